package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/autoscale/incontainer"
	"github.com/doubleboiler/boiler/autoscale/memguard"
	"github.com/doubleboiler/boiler/autoscale/source"
	"github.com/doubleboiler/boiler/procfile"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/supervisor"
)

// procfileFlags are the -f and -e flags of start, run and check.
type procfileFlags struct {
	procfile string
	env      string
	envSet   bool // -e given: its files must exist
}

func addProcfileFlags(cmd *cobra.Command, f *procfileFlags) {
	cmd.Flags().StringVarP(&f.procfile, "procfile", "f", "Procfile", "the Procfile")
	cmd.Flags().StringVarP(&f.env, "env", "e", ".env", "comma-separated .env files (a missing default .env is fine); the environment wins over them")
}

// readProcfile reads and parses the Procfile; errors name the file and line.
func (f *procfileFlags) readProcfile() ([]procfile.Entry, error) {
	src, err := os.ReadFile(f.procfile)
	if err != nil {
		return nil, fmt.Errorf("reading the Procfile: %w", err)
	}
	entries, err := procfile.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.procfile, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no process types (write one \"name: command\" per line)", f.procfile)
	}
	return entries, nil
}

// environ is the environment with the .env files' variables added (the
// environment wins, later files over earlier ones). Each file sees the
// variables of the files before it in ${VAR} references.
func (f *procfileFlags) environ() ([]string, error) {
	base := os.Environ()
	loaded := make(map[string]string)
	lookup := func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := loaded[k]
		return v, ok
	}
	var files [][]procfile.Var
	for _, name := range strings.Split(f.env, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		src, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) && !f.envSet && name == ".env" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading env file: %w", err)
		}
		vars, err := procfile.ParseEnv(bytes.NewReader(src), lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, v := range vars {
			loaded[v.Key] = v.Value
		}
		files = append(files, vars)
	}
	return procfile.Environ(base, files...), nil
}

// lookupIn finds key in an environ list (the last entry wins, as in
// os/exec).
func lookupIn(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// startFormation is the number of instances of each process type: the -m
// formation, limited to the named processes when some are given.
func startFormation(entries []procfile.Entry, m string, names []string) (map[string]int, error) {
	f, err := procfile.ParseFormation(m)
	if err != nil {
		return nil, fmt.Errorf("-m: %w", err)
	}
	counts, err := f.Counts(entries)
	if err != nil {
		return nil, fmt.Errorf("-m: %w", err)
	}
	if len(names) == 0 {
		return counts, nil
	}
	only := make(map[string]int, len(counts))
	for name := range counts {
		only[name] = 0
	}
	for _, name := range names {
		n, ok := counts[name]
		if !ok {
			return nil, fmt.Errorf("unknown process type %q (the Procfile has: %s)", name, entryNames(entries))
		}
		only[name] = max(n, 1)
	}
	return only, nil
}

func entryNames(entries []procfile.Entry) string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}

// defaultStopTimeout is the platform's 30 s less a margin.
const defaultStopTimeout = 25 * time.Second

// stopTimeout is -t ("25", seconds as foreman takes it, or "25s"); unset,
// a nested supervisor takes 4/5 of its parent's (BOILER_STOP_TIMEOUT), so
// its own stop ends before the parent's SIGKILL; else 25s.
func stopTimeout(flag string, environ []string) (time.Duration, error) {
	if flag != "" {
		d, err := parseSeconds(flag)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("-t %q: want a duration like 25 or 25s", flag)
		}
		return d, nil
	}
	if v, ok := lookupIn(environ, supervisor.EnvStopTimeout); ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d * 4 / 5, nil
		}
	}
	return defaultStopTimeout, nil
}

// parseSeconds parses "25" (seconds) or a Go duration "1m30s".
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func newStartCmd() *cobra.Command {
	var (
		pf                             procfileFlags
		formation, timeout, restart    string
		port                           int
		noColor, timestamps, subreaper bool
		as                             startAutoscaleFlags
	)
	cmd := &cobra.Command{
		Use:   "start [PROCESS...]",
		Short: "Run the Procfile's processes, as foreman does and with the platform's signals",
		Long: `Run the processes of a Procfile: one of each by default (-m web=1,worker=2 or
all=1 to change it; name processes to run only those).

Each process gets PORT (base + 100 × its position in the Procfile + its instance
number - 1; a lone web gets the platform's $PORT as it is) and PS=web.1. Output
is prefixed "web.1 | ". SIGINT, SIGTERM or SIGHUP stop everything: SIGTERM to
each process group, SIGKILL after -t; a second Ctrl-C kills at once, a repeated
SIGTERM does not. A crashed process restarts with backoff (1s doubling to 60s).
The exit status is 0 after a requested stop, else that of the failed process.

boiler ps and boiler scale talk to it over a Unix socket: $BOILER_SOCKET, or
.boiler.sock in the working directory.

--autoscale worker=1..8 scales a process type with the backlog of the store
(--store): every --autoscale-interval, desired = clamp(ceil(available jobs /
--jobs-per-worker), 1, 8), at once when scaling up, after the backlog has
allowed fewer for --autoscale-window when scaling down. A memory guard never
adds a worker that would take the container past 80 % of its memory limit
(the cgroup's, or --memory-limit), learning a worker's size from the running
ones, nor past --process-cap processes and threads. Scaling down sends SIGTERM
to the highest-numbered instances; a boiler worker finishes its running jobs
and hands the rest back. Decisions are logged as "boiler | " lines.`,
		Example: `  boiler start
  boiler start -m web=1,worker=2 -t 25
  boiler start --autoscale worker=1..8 --store env:DATABASE_URL --jobs-per-worker 100
  boiler start --autoscale worker=1..4:high,default --autoscale reports=0..2:reports --memory-limit 512MB`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Signals first, so none is missed while starting. main's
			// context also ends on SIGINT/SIGTERM; the supervisor takes
			// that as the same stop request, and counts SIGINTs itself.
			sigs := make(chan os.Signal, 8)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			// A closed stdout must not kill the supervisor (and orphan its
			// processes): handled, SIGPIPE makes writes fail instead.
			// Handled, not ignored: an ignored signal stays ignored in the
			// children.
			pipe := make(chan os.Signal, 1)
			signal.Notify(pipe, syscall.SIGPIPE)
			defer signal.Stop(pipe)

			pf.envSet = cmd.Flags().Changed("env")
			entries, err := pf.readProcfile()
			if err != nil {
				return err
			}
			environ, err := pf.environ()
			if err != nil {
				return err
			}
			counts, err := startFormation(entries, formation, args)
			if err != nil {
				return err
			}
			stop, err := stopTimeout(timeout, environ)
			if err != nil {
				return err
			}
			policy, err := supervisor.ParseRestartPolicy(restart)
			if err != nil {
				return fmt.Errorf("--restart: %w", err)
			}
			var platformPort int
			if v, ok := lookupIn(environ, "PORT"); ok && v != "" {
				if platformPort, err = strconv.Atoi(v); err != nil {
					return fmt.Errorf("$PORT %q is not a port number", v)
				}
			}
			plan, err := as.plan(cmd, entries)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			color := !noColor && os.Getenv("NO_COLOR") == "" && out == os.Stdout && term.IsTerminal(int(os.Stdout.Fd()))
			if plan != nil {
				out = &syncWriter{w: out}
			}
			sup, err := supervisor.New(supervisor.Options{
				Entries:       entries,
				Formation:     counts,
				Env:           environ,
				Dir:           filepath.Dir(pf.procfile),
				Port:          port,
				PlatformPort:  platformPort,
				Timeout:       stop,
				Restart:       policy,
				Output:        out,
				Color:         color,
				Timestamps:    timestamps,
				ControlSocket: controlSocketPath(),
				Subreaper:     subreaper,
			})
			if err != nil {
				return err
			}
			if plan != nil {
				logger := autoscaleLogger(newSystemLines(out, logWidth(entries, counts, plan), color, timestamps))
				stopScaling, err := startInContainerScaler(cmd.Context(), plan, as.store, sup, logger)
				if err != nil {
					return err
				}
				defer stopScaling()
			}
			err = sup.Run(cmd.Context(), sigs)
			if ee := (*supervisor.ExitError)(nil); errors.As(err, &ee) {
				return &exitError{code: ee.Code}
			}
			return err
		},
	}
	addProcfileFlags(cmd, &pf)
	cmd.Flags().StringVarP(&formation, "formation", "m", "", `instances per process type: "web=1,worker=2" or "all=1,worker=3" (default all=1)`)
	cmd.Flags().IntVarP(&port, "port", "p", 5000, "base port")
	cmd.Flags().StringVarP(&timeout, "timeout", "t", "", "time between SIGTERM and SIGKILL when stopping, e.g. 25 or 25s (default 25s; nested: 4/5 of the parent's)")
	cmd.Flags().StringVar(&restart, "restart", string(supervisor.RestartOnFailure), "on-failure (restart crashed processes with backoff), always, or never (one exits, all stop)")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "no colors (also: NO_COLOR set, or output not a terminal)")
	cmd.Flags().BoolVar(&timestamps, "timestamps", false, "start each line with the time")
	cmd.Flags().BoolVar(&subreaper, "subreaper", false, "become a child subreaper and reap every orphaned descendant (implied when running as PID 1)")
	addStartAutoscaleFlags(cmd, &as)
	return cmd
}

// startAutoscaleFlags are the in-container autoscaling flags of `boiler
// start`. They mirror `boiler autoscale`'s, prefixed where start's own
// flags would make them ambiguous.
type startAutoscaleFlags struct {
	specs         []string // --autoscale TYPE=MIN..MAX[:QUEUES], repeatable
	queues        string
	jobsPerWorker int
	targetLatency time.Duration
	interval      time.Duration
	window        time.Duration
	minInterval   time.Duration
	memoryLimit   string
	processCap    int
	store         *storeFlag
}

// The default decision interval of in-container scaling: a QueueStats
// read is cheap, and starting a worker costs no platform API call.
const defaultStartAutoscaleInterval = 5 * time.Second

func addStartAutoscaleFlags(cmd *cobra.Command, f *startAutoscaleFlags) {
	fl := cmd.Flags()
	fl.StringArrayVar(&f.specs, "autoscale", nil,
		"scale a process type with the store's backlog: TYPE=MIN..MAX, or TYPE=MIN..MAX:QUEUE,QUEUE to count only those queues (repeat for several types)")
	fl.StringVar(&f.queues, "autoscale-queues", "", "store queues whose available jobs count, comma-separated (default: every queue)")
	fl.IntVar(&f.jobsPerWorker, "jobs-per-worker", autoscale.DefaultJobsPerWorker, "waiting jobs that justify one worker")
	fl.DurationVar(&f.targetLatency, "autoscale-target-latency", 0, "also add a worker per decision while the oldest job waits longer than this (0: off)")
	fl.DurationVar(&f.interval, "autoscale-interval", defaultStartAutoscaleInterval, "time between two decisions")
	fl.DurationVar(&f.window, "autoscale-window", autoscale.DefaultStabilizationWindow, "scale down only after the backlog allowed it this long (0: at once)")
	fl.DurationVar(&f.minInterval, "autoscale-min-interval", autoscale.DefaultMinInterval, "least time between two changes (0: none)")
	fl.StringVar(&f.memoryLimit, "memory-limit", "", "the container's memory, e.g. 512MB (default: the cgroup's memory.max, v1 memory.limit_in_bytes; none: no memory guard)")
	fl.IntVar(&f.processCap, "process-cap", memguard.DefaultProcessCap, "most processes and threads in the container (the cgroup's pids.current, else boiler's own process tree; lowered to the cgroup's pids.max; 0: no cap)")
	f.store = addStoreFlag(cmd)
}

// autoscaleSpec is one --autoscale value.
type autoscaleSpec struct {
	typ      string
	min, max int
	queues   []string // nil: --autoscale-queues
}

// parseAutoscaleSpec parses TYPE=MIN..MAX or TYPE=MIN..MAX:QUEUE,QUEUE.
func parseAutoscaleSpec(s string) (autoscaleSpec, error) {
	bad := func(why string) (autoscaleSpec, error) {
		return autoscaleSpec{}, fmt.Errorf("--autoscale %q: %s (want TYPE=MIN..MAX, for example worker=1..8)", s, why)
	}
	typ, rest, ok := strings.Cut(s, "=")
	if !ok || typ == "" {
		return bad("no process type")
	}
	rng, queues, hasQueues := strings.Cut(rest, ":")
	lo, hi, ok := strings.Cut(rng, "..")
	if !ok {
		return bad("no MIN..MAX range")
	}
	spec := autoscaleSpec{typ: typ}
	var err error
	if spec.min, err = strconv.Atoi(lo); err != nil || spec.min < 0 {
		return bad(fmt.Sprintf("MIN %q is not a count", lo))
	}
	if spec.max, err = strconv.Atoi(hi); err != nil || spec.max < 1 {
		return bad(fmt.Sprintf("MAX %q is not a count of 1 or more", hi))
	}
	if spec.max < spec.min {
		return bad(fmt.Sprintf("MAX %d is below MIN %d", spec.max, spec.min))
	}
	if hasQueues {
		if spec.queues = splitList(queues); len(spec.queues) == 0 {
			return bad("no queue after the colon")
		}
	}
	return spec, nil
}

// autoscalePlan is the checked autoscaling flags: what to scale, and how.
type autoscalePlan struct {
	specs       []autoscaleSpec
	policy      autoscale.Options // Min and Max set per spec
	interval    time.Duration
	memoryLimit int64 // 0: read the cgroup
	processCap  int64 // memguard's: negative for none
}

// plan checks the flags against the Procfile. It returns nil when
// --autoscale is not given (and then refuses the other autoscale flags).
func (f *startAutoscaleFlags) plan(cmd *cobra.Command, entries []procfile.Entry) (*autoscalePlan, error) {
	if len(f.specs) == 0 {
		for _, name := range []string{"autoscale-queues", "jobs-per-worker", "autoscale-target-latency", "autoscale-interval",
			"autoscale-window", "autoscale-min-interval", "memory-limit", "process-cap", "store"} {
			if cmd.Flags().Changed(name) {
				return nil, fmt.Errorf("--%s applies to autoscaling: add --autoscale TYPE=MIN..MAX", name)
			}
		}
		return nil, nil
	}
	p := &autoscalePlan{interval: f.interval, processCap: int64(f.processCap)}
	seen := make(map[string]bool)
	for _, s := range f.specs {
		spec, err := parseAutoscaleSpec(s)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(entries, func(e procfile.Entry) bool { return e.Name == spec.typ }) {
			return nil, fmt.Errorf("--autoscale %q: unknown process type %q (the Procfile has: %s)", s, spec.typ, entryNames(entries))
		}
		if seen[spec.typ] {
			return nil, fmt.Errorf("--autoscale %q: %s is autoscaled twice", s, spec.typ)
		}
		seen[spec.typ] = true
		if spec.queues == nil {
			spec.queues = splitList(f.queues)
		}
		p.specs = append(p.specs, spec)
	}
	switch {
	case f.jobsPerWorker < 1:
		return nil, fmt.Errorf("--jobs-per-worker is %d, want 1 or more", f.jobsPerWorker)
	case f.interval <= 0:
		return nil, fmt.Errorf("--autoscale-interval is %s, want a positive duration", f.interval)
	case f.window < 0 || f.minInterval < 0 || f.targetLatency < 0:
		return nil, errors.New("--autoscale-window, --autoscale-min-interval and --autoscale-target-latency must not be negative")
	case f.processCap < 0:
		return nil, fmt.Errorf("--process-cap is %d, want 0 (no cap) or more", f.processCap)
	}
	if f.processCap == 0 {
		p.processCap = -1 // memguard's "no cap"
	}
	if f.memoryLimit != "" {
		n, err := memguard.ParseBytes(f.memoryLimit)
		if err != nil {
			return nil, fmt.Errorf("--memory-limit: %w", err)
		}
		if n <= 0 {
			return nil, fmt.Errorf("--memory-limit %q: want more than 0", f.memoryLimit)
		}
		p.memoryLimit = n
	}
	off := func(d time.Duration) time.Duration {
		if d == 0 {
			return autoscale.Disabled
		}
		return d
	}
	p.policy = autoscale.Options{
		JobsPerWorker: f.jobsPerWorker, TargetLatency: f.targetLatency,
		StabilizationWindow: off(f.window), MinInterval: off(f.minInterval),
	}
	return p, nil
}

// inContainerScaler scales the process types of a running supervisor from
// the store's backlog: one autoscale.Scaler per type, each through the
// in-container target and one shared memory guard.
type inContainerScaler struct {
	st      store.Store
	scalers []*autoscale.Scaler
}

// newInContainerScaler opens the store and builds the scalers of plan for
// sup; it logs the settings to logger. Nothing here runs a command: with
// --subreaper or as PID 1 the supervisor must be the process's only
// reaper.
func newInContainerScaler(ctx context.Context, plan *autoscalePlan, sf *storeFlag, sup incontainer.Supervisor, logger *slog.Logger) (*inContainerScaler, error) {
	guard, err := memguard.New(memguard.Options{MemoryLimit: plan.memoryLimit, ProcessCap: plan.processCap})
	if err != nil {
		return nil, fmt.Errorf("--autoscale: %w", err)
	}
	st, shown, err := sf.open(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("--autoscale: %w", err)
	}
	ics := &inContainerScaler{st: st}
	limit := "none known"
	if r := guard.MemoryLimit(); r.From != "" {
		limit = fmt.Sprintf("%d MB (%s)", r.Value>>20, r.From)
	}
	for _, spec := range plan.specs {
		src, err := source.NewStore(st, source.StoreOptions{Queues: spec.queues})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("--autoscale %s: %w", spec.typ, err)
		}
		form, err := incontainer.New(sup, spec.typ)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("--autoscale %s: %w", spec.typ, err)
		}
		target, err := memguard.NewTarget(form, guard, logger)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("--autoscale %s: %w", spec.typ, err)
		}
		policy := plan.policy
		policy.Min, policy.Max = spec.min, spec.max
		sc, err := autoscale.NewScaler(autoscale.ScalerConfig{
			Policy: policy, Source: src, Target: target, Interval: plan.interval,
			Name: spec.typ, Logger: logger, QuietRepeats: true,
		})
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("--autoscale %s: %w", spec.typ, err)
		}
		ics.scalers = append(ics.scalers, sc)
		queues := "all"
		if len(spec.queues) > 0 {
			queues = strings.Join(spec.queues, ",")
		}
		opts := policy.WithDefaults()
		logger.Info("autoscaling", "process", spec.typ, "min", spec.min, "max", spec.max, "store", shown, "queues", queues,
			"jobs_per_worker", opts.JobsPerWorker, "interval", plan.interval, "window", opts.StabilizationWindow,
			"min_interval", opts.MinInterval, "memory_limit", limit, "max_memory", "80%", "process_cap", guard.TaskCap())
	}
	return ics, nil
}

// startInContainerScaler builds the scalers of plan and runs them in the
// background once sup runs. They stop at the first stop signal (a
// supervisor that is stopping refuses to scale), or when ctx ends, or
// when stop is called; stop waits for them and closes the store.
func startInContainerScaler(ctx context.Context, plan *autoscalePlan, sf *storeFlag, sup incontainer.Supervisor, logger *slog.Logger) (stop func(), _ error) {
	ics, err := newInContainerScaler(ctx, plan, sf, sup, logger)
	if err != nil {
		return nil, err
	}
	stopSigs := make(chan os.Signal, 1)
	signal.Notify(stopSigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ics.run(ctx, sup)
	}()
	go func() {
		select {
		case <-stopSigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	return func() {
		cancel()
		<-done
		signal.Stop(stopSigs)
		ics.close()
	}, nil
}

// run starts the scalers once sup runs, and stops them when ctx ends.
// It returns once they have stopped.
func (ics *inContainerScaler) run(ctx context.Context, sup incontainer.Supervisor) {
	for {
		_, err := sup.Formation()
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	for _, sc := range ics.scalers {
		_ = sc.Start(ctx) // started once, here
	}
	<-ctx.Done()
	for _, sc := range ics.scalers {
		sc.Stop()
	}
}

// close releases the store.
func (ics *inContainerScaler) close() { ics.st.Close() }

// syncWriter serializes the writes of the supervisor's log and of the
// autoscaler's, which share one output, so lines never interleave.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// systemLines writes each line it is given as one of the supervisor's own
// "boiler | " lines: the name padded to the widest process name, bold
// with colors, the time first with --timestamps. (The supervisor does not
// export its own line writer; this matches its format.)
type systemLines struct {
	w          io.Writer
	prefix     string
	timestamps bool
}

func newSystemLines(w io.Writer, width int, color, timestamps bool) *systemLines {
	prefix := fmt.Sprintf("%-*s | ", width, "boiler")
	if color {
		prefix = "\x1b[1m" + prefix[:len(prefix)-1] + "\x1b[0m "
	}
	return &systemLines{w: w, prefix: prefix, timestamps: timestamps}
}

func (s *systemLines) Write(p []byte) (int, error) {
	var buf bytes.Buffer
	ts := ""
	if s.timestamps {
		ts = time.Now().Format("15:04:05 ")
	}
	for line := range strings.SplitSeq(strings.TrimSuffix(string(p), "\n"), "\n") {
		buf.WriteString(ts + s.prefix + line + "\n")
	}
	if _, err := s.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// logWidth is the width the supervisor pads names to: the longest
// "type.N" of the formation, N up to each type's most instances.
func logWidth(entries []procfile.Entry, counts map[string]int, plan *autoscalePlan) int {
	most := maps.Clone(counts)
	for _, s := range plan.specs {
		most[s.typ] = max(most[s.typ], s.max)
	}
	width := len("boiler")
	for _, e := range entries {
		width = max(width, len(e.Name)+1+len(strconv.Itoa(most[e.Name])))
	}
	return width
}

// autoscaleLogger is the autoscaler's logger: key=value lines without the
// time (the supervisor's --timestamps adds it) or the metric's read time
// (the decision's own), at Info.
func autoscaleLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == "metric_read_at") {
				return slog.Attr{}
			}
			return a
		},
	}))
}
