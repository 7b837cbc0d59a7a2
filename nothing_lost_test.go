package boiler

// The nothing-lost proof: a worker process killed with SIGKILL mid-run
// loses no job, and one stopped with SIGTERM hands its unfinished jobs
// back without charging them an attempt. The tests re-run this test
// binary as the worker process (TestMain dispatches on childModeEnv).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// Environment of a child worker process.
const (
	childModeEnv        = "BOILER_TEST_CHILD"             // "worker": run a worker until SIGTERM
	childDBEnv          = "BOILER_TEST_CHILD_DB"          // the SQLite file
	childRunsEnv        = "BOILER_TEST_CHILD_RUNS"        // file the handlers append job ids to
	childConcurrencyEnv = "BOILER_TEST_CHILD_CONCURRENCY" // WorkerOptions.Concurrency
	childLeaseEnv       = "BOILER_TEST_CHILD_LEASE"       // WorkerOptions.LeaseFor
	childShutdownEnv    = "BOILER_TEST_CHILD_SHUTDOWN"    // WorkerOptions.ShutdownTimeout
)

// workArgs is a job that takes MS milliseconds, or, with Mode "slow",
// until its context is cancelled, or, with Mode "stuck", a minute whatever
// its context says.
type workArgs struct {
	MS   int    `json:"ms,omitempty"`
	Mode string `json:"mode,omitempty"`
}

func (workArgs) Kind() string { return "work" }

// runLog appends the id of every job run to a file, one write per run, so
// a process killed at any instant leaves whole lines.
type runLog struct {
	mu sync.Mutex
	f  *os.File
}

func openRunLog(path string) (*runLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &runLog{f: f}, nil
}

func (l *runLog) add(id int64) error {
	_, err := l.f.Write([]byte(strconv.FormatInt(id, 10) + "\n"))
	return err
}

// workHandler runs workArgs jobs and logs their runs.
func workHandler(runs *runLog) HandlerFunc[workArgs] {
	return func(ctx context.Context, job *Job[workArgs]) error {
		switch job.Args.Mode {
		case "slow":
			<-ctx.Done()
			return ctx.Err()
		case "stuck":
			time.Sleep(time.Minute)
			return nil
		}
		select {
		case <-time.After(time.Duration(job.Args.MS) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		return runs.add(job.ID)
	}
}

// runChild is the worker process: it runs until SIGTERM and returns the
// exit status.
func runChild(mode string) int {
	if mode != "worker" {
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", childModeEnv, mode)
		return 2
	}
	if err := childWorker(); err != nil {
		fmt.Fprintln(os.Stderr, "child worker:", err)
		return 1
	}
	return 0
}

func childWorker() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	s, err := sqlite.Open(os.Getenv(childDBEnv), nil)
	if err != nil {
		return err
	}
	defer s.Close()
	runs, err := openRunLog(os.Getenv(childRunsEnv))
	if err != nil {
		return err
	}
	defer runs.f.Close()
	concurrency, _ := strconv.Atoi(os.Getenv(childConcurrencyEnv))
	lease, _ := time.ParseDuration(os.Getenv(childLeaseEnv))
	shutdown, _ := time.ParseDuration(os.Getenv(childShutdownEnv))
	reg := NewRegistry()
	Handle(reg, workHandler(runs))
	w, err := NewWorker(s, reg, &WorkerOptions{
		Concurrency:     concurrency,
		LeaseFor:        lease,
		ShutdownTimeout: shutdown,
		PollInterval:    10 * time.Millisecond,
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// startChild starts a worker process on db.
func startChild(t *testing.T, db, runs string, concurrency int, lease, shutdown time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(),
		childModeEnv+"=worker",
		childDBEnv+"="+db,
		childRunsEnv+"="+runs,
		childConcurrencyEnv+"="+strconv.Itoa(concurrency),
		childLeaseEnv+"="+lease.String(),
		childShutdownEnv+"="+shutdown.String(),
		// A race-enabled binary sleeps a second at exit by default, which
		// the exit-time check would count against the worker.
		"GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"),
	)
	cmd.Stderr = tWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// countRuns reads the run log: how many times each job id ran.
func countRuns(t *testing.T, path string) map[int64]int {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[int64]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[int64]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("run log line %q: %v", sc.Text(), err)
		}
		counts[id]++
	}
	return counts
}

func countLines(path string) int {
	data, _ := os.ReadFile(path)
	n := 0
	for _, c := range data {
		if c == '\n' {
			n++
		}
	}
	return n
}

// TestNothingLostOnSIGKILL kills a worker process mid-run and checks that
// a new worker completes every job, and that the only jobs that ran twice
// were in flight (leased, outcome not yet recorded) at the kill.
func TestNothingLostOnSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	jobs, killAt, concurrency, lease := 3000, 1000, 50, time.Second
	if raceEnabled {
		jobs, killAt, lease = 600, 200, 2*time.Second
	}
	b := setup(t)
	ctx := context.Background()
	runsPath := filepath.Join(t.TempDir(), "runs")
	params := make([]EnqueueParams, jobs)
	for i := range params {
		params[i] = EnqueueParams{Args: workArgs{MS: 1 + i%4}}
	}
	if _, err := b.client.EnqueueMany(ctx, params); err != nil {
		t.Fatal(err)
	}

	child := startChild(t, b.path, runsPath, concurrency, lease, 25*time.Second)
	waitFor(t, "the child worker to run some jobs", func() bool { return countLines(runsPath) >= killAt })
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	// In flight at the kill: leased to the dead worker.
	inFlight := map[int64]bool{}
	running, err := b.client.JobList(ctx, &store.JobListParams{States: []store.State{store.StateRunning}, Limit: jobs})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range running {
		inFlight[j.ID] = true
	}
	ranBeforeRestart := len(countRuns(t, runsPath))
	if ranBeforeRestart >= jobs {
		t.Fatalf("the child ran every job before the kill; the test proves nothing: raise the job count")
	}
	t.Logf("at the kill: %d jobs had run, %d were in flight", ranBeforeRestart, len(inFlight))

	runs, err := openRunLog(runsPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = runs.f.Close() }) // after the worker's Stop
	Handle(b.reg, workHandler(runs))
	b.startWorker(t, &WorkerOptions{Concurrency: concurrency, LeaseFor: lease})
	waitFor(t, "every job to complete", func() bool {
		stats, err := b.client.QueueStats(ctx)
		return err == nil && len(stats) == 1 && stats[0].Counts[store.StateCompleted] == int64(jobs)
	})

	counts := countRuns(t, runsPath)
	twice := 0
	for id := int64(1); id <= int64(jobs); id++ {
		switch n := counts[id]; {
		case n == 0:
			t.Errorf("job %d completed but never ran", id)
		case n > 1:
			twice++
			if !inFlight[id] {
				t.Errorf("job %d ran %d times but was not in flight at the kill", id, n)
			}
		}
	}
	for id := range inFlight {
		j, err := b.client.JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Attempt != 2 || len(j.Errors) != 1 {
			t.Errorf("job %d was in flight at the kill: want it rescued (attempt 2, one error); attempt %d, errors %v", id, j.Attempt, j.Errors)
		}
	}
	if len(inFlight) > concurrency+maxUnrecorded(concurrency) {
		t.Errorf("%d jobs in flight at the kill, more than the concurrency %d plus the completer's backlog", len(inFlight), concurrency)
	}
	t.Logf("every one of %d jobs completed; %d ran twice (in flight at the kill: %d; concurrency %d)", jobs, twice, len(inFlight), concurrency)
}

// TestSIGTERMReleasesUnfinishedJobs stops a worker process with SIGTERM
// while jobs run: the jobs that finish within the shutdown timeout
// complete, the others return to available with their attempt undone,
// and the process exits before the timeout + 1 s.
func TestSIGTERMReleasesUnfinishedJobs(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	const shutdown = time.Second
	b := setup(t)
	ctx := context.Background()
	var params []EnqueueParams
	for range 4 {
		params = append(params, EnqueueParams{Args: workArgs{MS: 500}})
	}
	for range 3 {
		params = append(params, EnqueueParams{Args: workArgs{Mode: "slow"}})
	}
	for range 2 {
		params = append(params, EnqueueParams{Args: workArgs{Mode: "stuck"}})
	}
	res, err := b.client.EnqueueMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	child := startChild(t, b.path, filepath.Join(t.TempDir(), "runs"), 10, 30*time.Second, shutdown)
	waitFor(t, "every job to be running", func() bool {
		running, err := b.client.JobList(ctx, &store.JobListParams{States: []store.State{store.StateRunning}})
		return err == nil && len(running) == len(params)
	})

	start := time.Now()
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child worker: %v", err)
	}
	took := time.Since(start)
	t.Logf("the worker process exited %s after SIGTERM (shutdown timeout %s)", took.Round(time.Millisecond), shutdown)
	// The bound is loose (a loaded CI machine takes a while to start and
	// stop a process) yet far below the 30 s lease: a worker that waited for
	// its stuck jobs instead of giving up at the shutdown timeout fails.
	if limit := shutdown + 10*time.Second; took > limit {
		t.Errorf("the worker process exited %s after SIGTERM, want under %s", took, limit)
	}
	for i, r := range res {
		j, err := b.client.JobGet(ctx, r.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		var args workArgs
		_ = json.Unmarshal(j.Args, &args)
		if i < 4 {
			if j.State != store.StateCompleted || j.Attempt != 1 {
				t.Errorf("job %d (%+v) finished within the timeout: want completed at attempt 1; %s at attempt %d", j.ID, args, j.State, j.Attempt)
			}
			continue
		}
		if j.State != store.StateAvailable || j.Attempt != 0 || len(j.Errors) != 0 || j.LeaseOwner != "" {
			t.Errorf("job %d (%+v) was cut short: want available, attempt 0, no error, no lease; %s, attempt %d, errors %v, owner %q",
				j.ID, args, j.State, j.Attempt, j.Errors, j.LeaseOwner)
		}
	}
}
