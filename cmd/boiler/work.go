package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/internal/builtin"
)

// workFlags are the options of `boiler work`.
type workFlags struct {
	queues          string
	strict          bool
	concurrency     int
	shutdownTimeout time.Duration
}

// newWorkCmd builds `boiler work`.
func newWorkCmd() *cobra.Command {
	var f workFlags
	cmd := &cobra.Command{
		Use:   "work",
		Short: "Run a worker with the built-in job kinds until SIGTERM or Ctrl-C",
		Long: "Work runs a worker pool that handles the built-in kinds (noop, sleep, fail)\n" +
			"until it receives SIGTERM or SIGINT. It then stops fetching, lets running jobs\n" +
			"finish within --shutdown-timeout and puts the others back in the queue.\n" +
			"Your own job kinds run in your own program's worker (boiler.NewWorker);\n" +
			"this command is for trying the queue, smoke tests and the demo.\n" +
			"The schema is created if it is missing. Logs go to standard error.",
		Example: "  boiler work --queues high=6,default=3,low=1 --concurrency 50",
		Args:    cobra.NoArgs,
	}
	storeFlag := addStoreFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.queues, "queues", boiler.DefaultQueue, "queues to serve: name=weight,... or, with --strict, names in order")
	fl.BoolVar(&f.strict, "strict", false, "serve the queues in the order given instead of by weight")
	fl.IntVar(&f.concurrency, "concurrency", 100, "jobs run at once")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 25*time.Second, "on SIGTERM, how long running jobs may take to finish")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		queues, err := boiler.ParseQueues(f.queues)
		if err != nil {
			return fmt.Errorf("--queues: %w", err)
		}
		if f.concurrency < 1 {
			return fmt.Errorf("--concurrency is %d, want 1 or more", f.concurrency)
		}
		if f.shutdownTimeout <= 0 {
			return fmt.Errorf("--shutdown-timeout is %s, want a positive duration", f.shutdownTimeout)
		}
		logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))

		ctx := cmd.Context()
		s, shown, err := storeFlag.open(ctx, true)
		if err != nil {
			return err
		}
		defer s.Close()

		reg := boiler.NewRegistry()
		builtin.Register(reg, nil)
		w, err := boiler.NewWorker(s, reg, &boiler.WorkerOptions{
			Queues:          queues,
			StrictOrder:     f.strict,
			Concurrency:     f.concurrency,
			ShutdownTimeout: f.shutdownTimeout,
			Logger:          logger,
		})
		if err != nil {
			return err
		}
		logger.Info("boiler work", "store", shown, "kinds", strings.Join(reg.Kinds(), ","))
		if err := w.Run(ctx); err != nil {
			return fmt.Errorf("worker: %w", err)
		}
		return nil
	}
	return cmd
}
