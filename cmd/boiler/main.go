// Command boiler runs a durable job queue, its workers and a Procfile
// supervisor in one container. See the README for the commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "boiler:", err)
		os.Exit(exitCode(err))
	}
}

// newRootCmd builds the command tree. Each group of commands lives in its
// own file and is listed here.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "boiler",
		Short:         "A job queue, its workers and a Procfile supervisor in one container",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(queueCommands()...)
	root.AddCommand(supervisorCommands()...)
	root.AddCommand(newAutoscaleCmd())
	root.AddCommand(newServeCmd(), newDemoCmd())
	root.AddCommand(newPeriodicCmd())
	return root
}

// exitError carries a process exit status through cobra.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode is the process status for err: the code of an *exitError, else 1.
func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}
