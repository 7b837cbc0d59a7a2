package main

import "github.com/spf13/cobra"

// queueCommands are the job queue's commands: migrate, enqueue, work,
// stats, bench. Each lives in its own file and shares the --store flag
// (storeflag.go).
func queueCommands() []*cobra.Command {
	return []*cobra.Command{
		newMigrateCmd(),
		newEnqueueCmd(),
		newWorkCmd(),
		newStatsCmd(),
		newBenchCmd(),
	}
}
