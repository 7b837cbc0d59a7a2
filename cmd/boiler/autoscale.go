package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for --sql
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for --sql

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/autoscale/command"
	"github.com/doubleboiler/boiler/autoscale/heroku"
	"github.com/doubleboiler/boiler/autoscale/simulate"
	"github.com/doubleboiler/boiler/autoscale/source"
)

// autoscaleFlags are the flags of `boiler autoscale`.
type autoscaleFlags struct {
	store  *storeFlag
	queues string

	redisList, redisURL string
	sqlQuery, sqlURL    string

	herokuApp, process, herokuURL string
	command, countCommand         string

	min, max, jobsPerWorker int
	targetLatency, window   time.Duration
	minInterval, interval   time.Duration
	dryRun, once            bool

	// getenv reads the environment (os.Getenv; tests replace it).
	getenv func(string) string
}

// newAutoscaleCmd builds `boiler autoscale` and its `simulate` subcommand.
func newAutoscaleCmd() *cobra.Command { return newAutoscaleCmdEnv(os.Getenv) }

// newAutoscaleCmdEnv is newAutoscaleCmd reading the environment with
// getenv (tests pass their own).
func newAutoscaleCmdEnv(getenv func(string) string) *cobra.Command {
	f := &autoscaleFlags{getenv: getenv}
	cmd := &cobra.Command{
		Use:   "autoscale",
		Short: "Scale workers with the backlog (a clock process, or a one-shot run with --once)",
		Long: `Every --interval, read the backlog, decide how many workers it needs and set
that count: desired = clamp(ceil(backlog / jobs-per-worker), min, max), at once
when scaling up, after the stabilization --window when scaling down, never two
changes within --min-interval. A failed or stale read changes nothing. Every
decision is logged with its inputs and reason.

The backlog comes from the boiler store (--store, --queues; the default), a
Redis list (--redis-list: Celery, RQ, Sidekiq) or an SQL count (--sql). The
count is set on Heroku (--heroku-app, --process; HEROKU_API_KEY) or by a
command (--command, run with BOILER_DESIRED=N).`,
		Example: `  boiler autoscale --store env:DATABASE_URL --queues high,default --min 1 --max 10 \
      --jobs-per-worker 100 --heroku-app my-app --process worker
  boiler autoscale --redis-list rq:queue:default --max 5 \
      --command 'fly scale count worker=$BOILER_DESIRED --yes'
  boiler autoscale simulate --svg burst.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd) },
	}
	f.store = addStoreFlag(cmd)
	f.store.getenv = getenv
	fl := cmd.Flags()
	fl.StringVar(&f.queues, "queues", "", "store queues whose available jobs count, comma-separated (default: every queue)")
	fl.StringVar(&f.redisList, "redis-list", "", "read the backlog as the length of these Redis lists, comma-separated (RQ: rq:queue:NAME, Sidekiq: queue:NAME, Celery: NAME)")
	fl.StringVar(&f.redisURL, "redis-url", "", "Redis of --redis-list (default $REDIS_URL, else redis://127.0.0.1:6379/0)")
	fl.StringVar(&f.sqlQuery, "sql", "", "read the backlog with this query: one row, a count and optionally the oldest job's age in seconds")
	fl.StringVar(&f.sqlURL, "sql-url", "", "database of --sql: postgres://... or sqlite://path (default $DATABASE_URL)")
	fl.StringVar(&f.herokuApp, "heroku-app", "", "scale this Heroku app's --process through the Platform API (token in HEROKU_API_KEY)")
	fl.StringVar(&f.process, "process", heroku.DefaultProcess, "the process type to scale")
	fl.StringVar(&f.herokuURL, "heroku-api-url", heroku.DefaultBaseURL, "the Heroku Platform API's address")
	fl.StringVar(&f.command, "command", "", "scale by running this shell command with BOILER_DESIRED=N (and BOILER_CURRENT) in its environment")
	fl.StringVar(&f.countCommand, "count-command", "", "with --command: a shell command printing the current count (default: the last count set, 0 at start)")
	fl.IntVar(&f.min, "min", 0, "fewest workers")
	fl.IntVar(&f.max, "max", 0, "most workers (required)")
	fl.IntVar(&f.jobsPerWorker, "jobs-per-worker", autoscale.DefaultJobsPerWorker, "waiting jobs that justify one worker")
	fl.DurationVar(&f.targetLatency, "target-latency", 0, "also add a worker per decision while the oldest job waits longer than this (0: off)")
	fl.DurationVar(&f.window, "window", autoscale.DefaultStabilizationWindow, "scale down only after the backlog allowed it this long (0: at once)")
	fl.DurationVar(&f.minInterval, "min-interval", autoscale.DefaultMinInterval, "least time between two changes (0: none)")
	fl.DurationVar(&f.interval, "interval", autoscale.DefaultInterval, "time between two decisions")
	fl.BoolVar(&f.dryRun, "dry-run", false, "log the decisions without changing anything")
	fl.BoolVar(&f.once, "once", false, "make one decision and exit (for a scheduler such as Heroku Scheduler or cron)")
	cmd.AddCommand(newAutoscaleSimulateCmd())
	return cmd
}

// policy returns the policy options the flags describe. A flag's 0 means
// "none" where the library's zero means "default".
func (f *autoscaleFlags) policy() autoscale.Options {
	off := func(d time.Duration) time.Duration {
		if d == 0 {
			return autoscale.Disabled
		}
		return d
	}
	return autoscale.Options{
		Min: f.min, Max: f.max, JobsPerWorker: f.jobsPerWorker, TargetLatency: f.targetLatency,
		StabilizationWindow: off(f.window), MinInterval: off(f.minInterval),
	}
}

// run opens the source and the target, then runs the loop (or one tick).
func (f *autoscaleFlags) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	fl := cmd.Flags()
	if !fl.Changed("max") {
		return errors.New("autoscale: --max is required (the most workers to run)")
	}
	if f.jobsPerWorker < 1 {
		return fmt.Errorf("autoscale: --jobs-per-worker is %d, want 1 or more", f.jobsPerWorker)
	}
	if f.window < 0 || f.minInterval < 0 || f.interval <= 0 || f.targetLatency < 0 {
		return errors.New("autoscale: --window, --min-interval and --target-latency must not be negative, --interval must be positive")
	}
	src, closeSrc, err := f.openSource(ctx, cmd)
	if err != nil {
		return err
	}
	defer closeSrc()
	target, err := f.openTarget()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	sc, err := autoscale.NewScaler(autoscale.ScalerConfig{
		Policy: f.policy(), Source: src, Target: target,
		Interval: f.interval, DryRun: f.dryRun, Name: f.process, Logger: logger,
	})
	if err != nil {
		return err
	}
	if f.once {
		d := sc.Tick(ctx)
		dry := ""
		if d.DryRun {
			dry = " (dry run)"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %d → %d%s: %s\n", d.Action, d.Current, d.Desired, dry, d.Reason)
		if d.MetricError != "" || d.ApplyError != "" {
			return errors.New("autoscale: the decision could not be made or applied (see the log)")
		}
		return nil
	}
	if err := sc.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	sc.Stop()
	return nil
}

// openSource opens the backlog source the flags choose, and returns the
// function that closes it.
func (f *autoscaleFlags) openSource(ctx context.Context, cmd *cobra.Command) (autoscale.Source, func(), error) {
	nop := func() {}
	chosen := 0
	for _, name := range []string{"store", "redis-list", "sql"} {
		if cmd.Flags().Changed(name) {
			chosen++
		}
	}
	if chosen > 1 {
		return nil, nop, errors.New("autoscale: choose one source: --store, --redis-list or --sql")
	}
	switch {
	case f.redisList != "":
		if f.queues != "" {
			return nil, nop, errors.New("autoscale: --queues applies to the store; list the Redis keys in --redis-list")
		}
		raw := cmp.Or(f.redisURL, f.getenv("REDIS_URL"), "redis://127.0.0.1:6379/0")
		opts, err := redis.ParseURL(raw)
		if err != nil {
			return nil, nop, fmt.Errorf("autoscale: --redis-url: %w", err)
		}
		rdb := redis.NewClient(opts)
		src, err := source.NewRedisList(rdb, source.RedisListOptions{Keys: splitList(f.redisList)})
		if err != nil {
			rdb.Close()
			return nil, nop, fmt.Errorf("autoscale: --redis-list: %w", err)
		}
		return src, func() { rdb.Close() }, nil
	case f.sqlQuery != "":
		db, err := openSQL(cmp.Or(f.sqlURL, f.getenv("DATABASE_URL")))
		if err != nil {
			return nil, nop, err
		}
		src, err := source.NewSQL(db, source.SQLOptions{Query: f.sqlQuery})
		if err != nil {
			db.Close()
			return nil, nop, fmt.Errorf("autoscale: --sql: %w", err)
		}
		return src, func() { db.Close() }, nil
	}
	st, _, err := f.store.open(ctx, false)
	if err != nil {
		return nil, nop, fmt.Errorf("autoscale: %w", err)
	}
	src, err := source.NewStore(st, source.StoreOptions{Queues: splitList(f.queues)})
	if err != nil {
		st.Close()
		return nil, nop, fmt.Errorf("autoscale: --queues: %w", err)
	}
	return src, func() { st.Close() }, nil
}

// openTarget builds the target the flags choose.
func (f *autoscaleFlags) openTarget() (autoscale.Target, error) {
	switch {
	case f.herokuApp != "" && f.command != "":
		return nil, errors.New("autoscale: choose one target: --heroku-app or --command")
	case f.herokuApp != "":
		token := f.getenv("HEROKU_API_KEY")
		if token == "" {
			return nil, errors.New("autoscale: --heroku-app needs an API key in HEROKU_API_KEY (heroku authorizations:create)")
		}
		t, err := heroku.New(heroku.Options{App: f.herokuApp, Process: f.process, Token: token, BaseURL: f.herokuURL})
		if err != nil {
			return nil, fmt.Errorf("autoscale: %w", err)
		}
		return t, nil
	case f.command != "":
		t, err := command.New(command.Options{Command: f.command, CountCommand: f.countCommand})
		if err != nil {
			return nil, fmt.Errorf("autoscale: --command: %w", err)
		}
		return t, nil
	}
	return nil, errors.New("autoscale: choose a target: --heroku-app APP or --command CMD (in-container scaling is `boiler start --autoscale`)")
}

// openSQL opens the database of --sql: postgres:// with pgx, sqlite://
// read-only with the pure Go driver.
func openSQL(raw string) (*sql.DB, error) {
	if raw == "" {
		return nil, errors.New("autoscale: --sql needs a database: --sql-url or DATABASE_URL")
	}
	scheme, rest, _ := strings.Cut(raw, "://")
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		db, err := sql.Open("pgx", raw)
		if err != nil {
			return nil, fmt.Errorf("autoscale: --sql-url: %w", err)
		}
		return db, nil
	case "sqlite":
		path, _, _ := strings.Cut(rest, "?")
		path, err := url.PathUnescape(path)
		if err != nil || path == "" {
			return nil, fmt.Errorf("autoscale: --sql-url %q: want sqlite://relative.db or sqlite:///absolute.db", raw)
		}
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("autoscale: --sql-url: %w", err)
		}
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			return nil, fmt.Errorf("autoscale: --sql-url: %w", err)
		}
		return db, nil
	}
	return nil, fmt.Errorf("autoscale: --sql-url: scheme %q not supported (postgres://, sqlite://)", scheme)
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// simulateFlags are the flags of `boiler autoscale simulate`.
type simulateFlags struct {
	scenario, csv, svg string
	min, max           int
	rate               float64
	boot, interval     time.Duration
}

// newAutoscaleSimulateCmd builds `boiler autoscale simulate`.
func newAutoscaleSimulateCmd() *cobra.Command {
	f := &simulateFlags{}
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Replay a load through the policy at several settings: cost and job waits",
		Long: `Replay a load (a built-in scenario, or a CSV of enqueue times: "seconds" or
"seconds,count" or RFC 3339 timestamps, one row each) through the autoscaling
policy against simulated workers, which each do --rate jobs a second and start
working --boot after they are asked for. For each policy setting it prints the
cost in worker-minutes and the median, 95th percentile and longest wait from
enqueue to start. --svg draws the backlog and the workers over time.`,
		Example: `  boiler autoscale simulate
  boiler autoscale simulate --csv enqueues.csv --rate 2 --max 20 --svg load.svg`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd.OutOrStdout()) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.scenario, "scenario", "email-burst", "built-in load: email-burst")
	fl.StringVar(&f.csv, "csv", "", "replay the enqueue times in this CSV file instead of --scenario")
	fl.StringVar(&f.svg, "svg", "", "also draw the backlog and the workers of every setting into this SVG file")
	fl.IntVar(&f.min, "min", 1, "fewest workers")
	fl.IntVar(&f.max, "max", 10, "most workers")
	fl.Float64Var(&f.rate, "rate", simulate.DefaultRate, "jobs a worker does per second")
	fl.DurationVar(&f.boot, "boot", simulate.DefaultBootDelay, "time from asking for a worker to its first job")
	fl.DurationVar(&f.interval, "interval", simulate.DefaultInterval, "time between two decisions")
	return cmd
}

// run loads, simulates and reports.
func (f *simulateFlags) run(out io.Writer) error {
	var load simulate.Load
	if f.csv != "" {
		file, err := os.Open(f.csv)
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		defer file.Close()
		if load, err = simulate.ParseCSV(file, f.csv); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	} else {
		mk, ok := simulate.Scenarios()[f.scenario]
		if !ok {
			return fmt.Errorf("simulate: unknown --scenario %q (built in: email-burst)", f.scenario)
		}
		load = mk()
	}
	if f.min < 0 || f.max < 1 || f.max < f.min {
		return fmt.Errorf("simulate: --min %d --max %d: want 0 <= min <= max and max >= 1", f.min, f.max)
	}
	if f.boot == 0 {
		f.boot = time.Nanosecond // 0 means "no delay" here, not the default
	}
	results, err := simulate.Compare(simulate.Config{Load: load, Rate: f.rate, BootDelay: f.boot, Interval: f.interval},
		simulate.Settings(f.min, f.max))
	if err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	fmt.Fprintf(out, "%s: %d jobs over %s; workers do %g jobs/s and boot in %s; a decision every %s\n\n",
		load.Name, len(load.Arrivals), load.Duration().Round(time.Second), f.rate, f.boot.Round(time.Second), f.interval)
	if err := simulate.WriteTable(out, results); err != nil {
		return err
	}
	if f.svg != "" {
		file, err := os.Create(f.svg)
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		if err := simulate.WriteSVG(file, load.Name, results); err != nil {
			file.Close()
			return fmt.Errorf("simulate: writing %s: %w", f.svg, err)
		}
		if err := file.Close(); err != nil {
			return fmt.Errorf("simulate: writing %s: %w", f.svg, err)
		}
		fmt.Fprintf(out, "\nwrote %s\n", f.svg)
	}
	return nil
}
