package main

import "github.com/spf13/cobra"

// queueCommands are the job queue's commands: migrate, enqueue, work,
// stats, bench.
func queueCommands() []*cobra.Command { return nil }
