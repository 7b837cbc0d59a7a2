package main

import "github.com/spf13/cobra"

// supervisorCommands are the Procfile supervisor's commands: start, run,
// check, ps, scale.
func supervisorCommands() []*cobra.Command {
	return []*cobra.Command{newStartCmd(), newRunCmd(), newCheckCmd(), newPsCmd(), newScaleCmd()}
}
