package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/autoscale/source"
	"github.com/doubleboiler/boiler/dashboard/demo"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
)

// demoFlags are the options of `boiler demo`.
type demoFlags struct {
	store         *storeFlag
	addr          string
	min, max      int
	concurrency   int
	jobsPerWorker int
	window        time.Duration
	interval      time.Duration
}

// The queues the demo's workers serve: the page's jobs go to "demo", and
// jobs enqueued by hand (boiler enqueue) to the default queue.
var demoQueues = []boiler.QueueWeight{{Name: "demo", Weight: 1}, {Name: boiler.DefaultQueue, Weight: 1}}

// demoStack is what `boiler demo` runs beside its web server: the worker
// pools, the autoscaler that sizes them, and what the demo page reads.
type demoStack struct {
	rec       *demo.Recorder
	pools     *demo.Pools
	scaler    *autoscale.Scaler
	decisions *autoscale.Ring
	backlog   *source.Store
}

// startDemoStack starts min pools of workers on s and the autoscaler
// that scales them between min and max. Stop it with stop.
func startDemoStack(ctx context.Context, s store.Store, f *demoFlags, logger *slog.Logger, errOut io.Writer) (*demoStack, error) {
	d := &demoStack{rec: demo.NewRecorder(0, nil), decisions: autoscale.NewRing(50)}
	reg := boiler.NewRegistry()
	builtin.Register(reg, nil)
	var err error
	d.pools, err = demo.NewPools(demo.PoolsOptions{
		Store:    d.rec.Wrap(s),
		Registry: reg,
		Worker: boiler.WorkerOptions{
			Queues:          demoQueues,
			Concurrency:     f.concurrency,
			ShutdownTimeout: 5 * time.Second,
			// The workers' own lines (started, stopped) would drown the
			// decisions; the pools log those.
			Logger: slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
		},
		Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	if d.backlog, err = source.NewStore(s, source.StoreOptions{}); err != nil {
		return nil, err
	}
	d.scaler, err = autoscale.NewScaler(autoscale.ScalerConfig{
		Policy: autoscale.Options{
			Min: f.min, Max: f.max, JobsPerWorker: f.jobsPerWorker,
			StabilizationWindow: f.window, MinInterval: autoscale.Disabled,
		},
		Source:       d.backlog,
		Target:       d.pools,
		Interval:     f.interval,
		Name:         "demo worker pools",
		Logger:       logger,
		History:      d.decisions,
		QuietRepeats: true,
	})
	if err != nil {
		return nil, fmt.Errorf("--min/--max/--jobs-per-worker/--window: %w", err)
	}
	if err := d.pools.Set(ctx, f.min); err != nil {
		return nil, err
	}
	if err := d.scaler.Start(ctx); err != nil {
		d.pools.Stop(context.Background())
		return nil, err
	}
	return d, nil
}

// stop stops the autoscaler, then the pools (their running jobs finish).
func (d *demoStack) stop() error {
	d.scaler.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return d.pools.Stop(ctx)
}

// demoStoreURL is the store of the demo: --store, else $BOILER_STORE_URL,
// else a fresh SQLite file in a temporary directory, which cleanup removes.
func demoStoreURL(f *storeFlag) (url string, cleanup func(), err error) {
	if f.value != "" || f.getenv(storeurl.EnvVar) != "" {
		url, err := f.resolve()
		return url, func() {}, err
	}
	dir, err := os.MkdirTemp("", "boiler-demo-")
	if err != nil {
		return "", nil, fmt.Errorf("making the demo's store directory: %w", err)
	}
	return "sqlite://" + filepath.Join(dir, "demo.db"), func() { os.RemoveAll(dir) }, nil
}

// newDemoCmd builds `boiler demo`.
func newDemoCmd() *cobra.Command { return newDemoCmdEnv(os.Getenv) }

// newDemoCmdEnv is newDemoCmd reading the environment with getenv (tests
// pass their own).
func newDemoCmdEnv(getenv func(string) string) *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the store, autoscaled workers, the API, the dashboard and a live demo page in one process",
		Long: "Demo starts everything in one process and prints the URL: an embedded SQLite store\n" +
			"(a fresh temporary file unless --store or $BOILER_STORE_URL names one), worker pools\n" +
			"running the built-in job kinds, an autoscaler that adds pools while jobs wait and\n" +
			"removes them after --window without a backlog, the JSON API, the dashboard at /, and\n" +
			"the demo page at /demo. Its button fires thousands of jobs, one POST /api/jobs each,\n" +
			"many at once, and shows them run live: enqueued, running, done, jobs/s, the\n" +
			"enqueue-to-done latency of each job (p50, p99) and the pools as they scale.",
		Example: "  boiler demo\n  boiler demo --addr 127.0.0.1:8000 --max 4",
		Args:    cobra.NoArgs,
	}
	f.store = addStoreFlag(cmd)
	f.store.getenv = getenv
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "", "address to listen on (default :$PORT when PORT is set, else 127.0.0.1:5000)")
	fl.IntVar(&f.min, "min", 1, "fewest worker pools")
	fl.IntVar(&f.max, "max", 8, "most worker pools")
	fl.IntVar(&f.concurrency, "concurrency", 10, "jobs one pool runs at once")
	fl.IntVar(&f.jobsPerWorker, "jobs-per-worker", 50, "waiting jobs that justify one more pool")
	fl.DurationVar(&f.window, "window", 10*time.Second, "how long the backlog must stay low before pools are removed")
	fl.DurationVar(&f.interval, "interval", time.Second, "time between two autoscaling decisions")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, f) }
	return cmd
}

// runDemo runs `boiler demo` until its context ends.
func runDemo(cmd *cobra.Command, f *demoFlags) error {
	if f.concurrency < 1 {
		return fmt.Errorf("--concurrency is %d, want 1 or more", f.concurrency)
	}
	if f.interval <= 0 {
		return fmt.Errorf("--interval is %s, want a positive duration", f.interval)
	}
	ctx := cmd.Context()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	logger := slog.New(slog.NewTextHandler(errOut, nil))
	getenv := f.store.getenv

	auth, err := loadWebAuth(getenv)
	if err != nil {
		return err
	}
	ln, url, err := listenWeb(ctx, cmp.Or(f.addr, defaultWebAddr(getenv)), auth)
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving {
			ln.Close()
		}
	}()

	storeURL, cleanup, err := demoStoreURL(f.store)
	if err != nil {
		return err
	}
	defer cleanup()
	shown := storeurl.Redact(storeURL)
	s, err := storeurl.Open(ctx, storeURL)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s: %w", shown, err)
	}

	stack, err := startDemoStack(ctx, s, f, logger, errOut)
	if err != nil {
		return err
	}
	defer stack.stop()
	events, err := demo.NewEvents(demo.EventsOptions{Recorder: stack.rec, Pools: stack.pools, Backlog: stack.backlog, Decisions: stack.decisions})
	if err != nil {
		return err
	}
	h, err := newWebHandler(&webOptions{
		store: s, auth: auth, logger: logger,
		decisions: stack.decisions, demoEvents: events,
	})
	if err != nil {
		return err
	}
	if auth.password != "" || auth.token != "" {
		// Only a shared demo needs stable tokens; on loopback a fresh
		// secret per run is fine.
		warnSecret(errOut, auth)
	}
	fmt.Fprintf(out, "boiler demo: open %s/demo\n  dashboard %s/  ·  API %s/api/  ·  store %s\n  Ctrl-C stops.\n", url, url, url, shown)
	serving = true
	return serveWeb(ctx, ln, h, logger)
}
