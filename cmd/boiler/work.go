package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/supervisor"
)

// workFlags are the options of `boiler work`.
type workFlags struct {
	queues          string
	strict          bool
	concurrency     int
	shutdownTimeout time.Duration
	lease           time.Duration
	periodic        []string
	leaderLease     time.Duration
}

// workShutdownTimeout is the worker's shutdown timeout: the flag when given;
// else, under `boiler start` (which sets BOILER_STOP_TIMEOUT in its
// children), 4/5 of the supervisor's stop timeout, so the worker hands its
// jobs back before the supervisor's SIGKILL; else 25 s.
func workShutdownTimeout(flag time.Duration, flagSet bool, getenv func(string) string) time.Duration {
	if flagSet {
		return flag
	}
	if d, err := time.ParseDuration(getenv(supervisor.EnvStopTimeout)); err == nil && d > 0 {
		return d * 4 / 5
	}
	return flag
}

// newWorkCmd builds `boiler work`.
func newWorkCmd() *cobra.Command {
	var f workFlags
	cmd := &cobra.Command{
		Use:   "work",
		Short: "Run a worker with the built-in job kinds until SIGTERM or Ctrl-C",
		Long: "Work runs a worker pool that handles the built-in kinds (noop, sleep, fail,\n" +
			"double and sum for workflows)\n" +
			"until it receives SIGTERM or SIGINT. It then stops fetching, lets running jobs\n" +
			"finish within --shutdown-timeout and puts the others back in the queue.\n" +
			"Your own job kinds run in your own program's worker (boiler.NewWorker);\n" +
			"this command is for trying the queue, smoke tests and the demo.\n" +
			"The schema is created if it is missing. Logs go to standard error.\n\n" +
			"--periodic declares a periodic job (repeatable); every worker sharing the store\n" +
			"campaigns to schedule them and one leader enqueues each tick exactly once.\n" +
			periodicLineHelp,
		Example: "  boiler work --queues high=6,default=3,low=1 --concurrency 50\n" +
			"  boiler work --periodic '@every 10m sleep {\"ms\":5}' --periodic 'name=nightly 0 3 * * * noop'",
		Args: cobra.NoArgs,
	}
	storeFlag := addStoreFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.queues, "queues", boiler.DefaultQueue, "queues to serve: name=weight,... or, with --strict, names in order")
	fl.BoolVar(&f.strict, "strict", false, "serve the queues in the order given instead of by weight")
	fl.IntVar(&f.concurrency, "concurrency", 100, "jobs run at once")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 25*time.Second, "on SIGTERM, how long running jobs may take to finish\n(under boiler start: 4/5 of its -t)")
	fl.DurationVar(&f.lease, "lease", 30*time.Second, "how long a fetched job stays leased without a heartbeat; a killed worker's jobs run again after it")
	fl.StringArrayVar(&f.periodic, "periodic", nil, "a periodic job: '[name=NAME] SCHEDULE KIND [JSON]' (repeatable; see above)")
	fl.DurationVar(&f.leaderLease, "leader-lease", 15*time.Second, "how long the periodic scheduler's leadership lasts without renewal")
	_ = fl.MarkHidden("leader-lease") // for tests of the failover

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		queues, err := boiler.ParseQueues(f.queues)
		if err != nil {
			return fmt.Errorf("--queues: %w", err)
		}
		if f.concurrency < 1 {
			return fmt.Errorf("--concurrency is %d, want 1 or more", f.concurrency)
		}
		f.shutdownTimeout = workShutdownTimeout(f.shutdownTimeout, cmd.Flags().Changed("shutdown-timeout"), os.Getenv)
		if f.lease <= 0 {
			return fmt.Errorf("--lease is %s, want a positive duration", f.lease)
		}
		if f.shutdownTimeout <= 0 {
			return fmt.Errorf("--shutdown-timeout is %s, want a positive duration", f.shutdownTimeout)
		}
		periodicJobs := make([]*boiler.PeriodicJob, len(f.periodic))
		for i, line := range f.periodic {
			if periodicJobs[i], err = parsePeriodicLine("--periodic", line, boiler.PeriodicSourceCLI); err != nil {
				return err
			}
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
			LeaseFor:        f.lease,
			Periodic:        periodicJobs,
			LeaderLease:     f.leaderLease,
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
