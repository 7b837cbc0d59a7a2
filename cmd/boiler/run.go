package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func newRunCmd() *cobra.Command {
	var pf procfileFlags
	cmd := &cobra.Command{
		Use:   "run [-e .env] [--] COMMAND [ARG...]",
		Short: "Run one command with the app's environment (foreman run)",
		Long: `Run one command with the environment of the Procfile's processes: the
environment plus the .env files (the environment wins). A single argument runs
through /bin/sh -c, so "boiler run 'echo $DATABASE_URL'" expands; a process
type of the Procfile runs its command ("boiler run worker"). SIGTERM and SIGHUP
are passed on to the command; Ctrl-C reaches it from the terminal. The exit
status is the command's.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pf.envSet = cmd.Flags().Changed("env")
			environ, err := pf.environ()
			if err != nil {
				return err
			}
			argv := args
			if len(args) == 1 {
				script := args[0]
				if entries, err := pf.readProcfile(); err == nil {
					for _, e := range entries {
						if e.Name == args[0] {
							script = e.Command
						}
					}
				}
				argv = []string{"/bin/sh", "-c", script}
			}
			// Caught before the start so none is lost; SIGINT only so that
			// boiler outlives the child (the terminal sends it to both).
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			c := exec.Command(argv[0], argv[1:]...)
			c.Env = environ
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Start(); err != nil {
				return fmt.Errorf("starting %s: %w", argv[0], err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Wait() }()
			for {
				select {
				case sig := <-sigs:
					if sig != syscall.SIGINT {
						_ = c.Process.Signal(sig)
					}
				case err := <-done:
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						ws := ee.Sys().(syscall.WaitStatus)
						if ws.Signaled() {
							return &exitError{code: 128 + int(ws.Signal())}
						}
						return &exitError{code: ws.ExitStatus()}
					}
					return err
				}
			}
		},
	}
	addProcfileFlags(cmd, &pf)
	cmd.Flags().SetInterspersed(false)
	return cmd
}
