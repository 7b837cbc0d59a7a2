package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/procfile"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
	"github.com/doubleboiler/boiler/supervisor"
)

// autoscaleBundle is a running `boiler start --autoscale` over a SQLite
// queue, with what a test needs to watch it.
type autoscaleBundle struct {
	dir, db string
	boiler  *started
	ctl     *supervisor.Client
	st      store.Store
}

// startAutoscaled writes a Procfile whose worker is `boiler work` on a
// fresh SQLite queue and runs `boiler start` with args, the queue's
// --store added.
func startAutoscaled(t *testing.T, args ...string) *autoscaleBundle {
	t.Helper()
	b := &autoscaleBundle{}
	b.dir = t.TempDir()
	b.db = "sqlite://" + filepath.Join(b.dir, "queue.db")
	procfile := "worker: exec \"$BOILER\" work --store " + b.db + " --concurrency 5 --shutdown-timeout 2s\n"
	if err := os.WriteFile(filepath.Join(b.dir, "Procfile"), []byte(procfile), 0o644); err != nil {
		t.Fatal(err)
	}
	b.boiler = startBoiler(t, b.dir, nil, append([]string{"start", "-t", "5", "--store", b.db}, args...)...)
	b.boiler.waitOutput(t, "worker.1 started")
	var err error
	waitUntil(t, 15*time.Second, "the control socket", func() bool {
		b.ctl, err = supervisor.Dial(t.Context(), filepath.Join(b.dir, "ctl.sock"))
		return err == nil
	})
	t.Cleanup(func() { b.ctl.Close() })
	if b.st, err = storeurl.Open(t.Context(), b.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.st.Close() })
	return b
}

// enqueue adds count sleep jobs of ms milliseconds with the binary.
func (b *autoscaleBundle) enqueue(t *testing.T, count, ms int) {
	t.Helper()
	c := exec.Command(boilerBin, "enqueue", "sleep", `{"ms":`+itoa(ms)+`}`, "--count", itoa(count), "--store", b.db)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
}

// workers returns the formation's count of workers and how many run.
func (b *autoscaleBundle) workers(t *testing.T) (want, running int) {
	t.Helper()
	procs, form, err := b.ctl.Processes(t.Context())
	if err != nil {
		t.Fatalf("ps over the control socket: %v\n%s", err, b.boiler.out.String())
	}
	for _, p := range procs {
		if p.Type == "worker" && p.State == "running" {
			running++
		}
	}
	return form["worker"], running
}

// counts returns the queue's jobs by state.
func (b *autoscaleBundle) counts(t *testing.T) map[store.State]int64 {
	t.Helper()
	stats, err := b.st.QueueStats(t.Context(), &store.QueueStatsParams{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	total := make(map[store.State]int64)
	for _, q := range stats {
		for s, n := range q.Counts {
			total[s] += n
		}
	}
	return total
}

// stop sends SIGTERM and expects a clean exit.
func (b *autoscaleBundle) stop(t *testing.T) {
	t.Helper()
	b.boiler.cmd.Process.Signal(syscall.SIGTERM)
	if code := b.boiler.exitCode(t, 15*time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, b.boiler.out.String())
	}
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The end-to-end test: `boiler start --autoscale worker=1..4`
// with 2,000 jobs of 50 ms grows to 4 workers at once, keeps them through
// the drain, and returns to 1 only after the backlog has allowed it for
// the stabilization window; it stops the highest-numbered workers, and no
// job is lost. It runs as a subreaper: nothing the autoscaler does may reap
// (steal) a worker's exit status from the supervisor.
func TestStartAutoscaleGrowsAndShrinks(t *testing.T) {
	t.Parallel()
	const window = 2 * time.Second
	b := startAutoscaled(t, "--autoscale", "worker=1..4", "--jobs-per-worker", "100",
		"--autoscale-interval", "200ms", "--autoscale-window", window.String(), "--autoscale-min-interval", "500ms",
		// No memory or process guard here (TestStartAutoscaleMemoryGuardHolds
		// has one): a CI container's own limits must not hold this test.
		"--memory-limit", "1T", "--process-cap", "0", "--subreaper")
	b.boiler.waitOutput(t, "reason=\"backlog 0 at 100 per worker needs 0, raised to min 1: keeping 1\"")

	const jobs = 2000
	start := time.Now()
	b.enqueue(t, jobs, 50)
	enqueued := time.Since(start)

	var grew, low, drained, back time.Duration // since start
	peak := 0
	waitUntil(t, 30*time.Second, "the formation to grow to 4 and return to 1", func() bool {
		want, running := b.workers(t)
		peak = max(peak, running)
		c := b.counts(t)
		now := time.Since(start)
		switch {
		case grew == 0 && want == 4 && running == 4:
			grew = now
		case grew != 0 && low == 0 && c[store.StateAvailable] <= 100: // one worker's worth: the policy asks for 1
			low = now
		}
		if grew != 0 && drained == 0 && c[store.StateAvailable] == 0 && c[store.StateRunning] == 0 {
			drained = now
		}
		if grew != 0 && back == 0 && want == 1 {
			back = now
		}
		return back != 0 && running == 1
	})
	t.Logf("enqueued %d jobs in %s; 4 workers running %s after the enqueue began; backlog at most 100 after %s, drained after %s; back to 1 worker after %s",
		jobs, enqueued.Round(time.Millisecond), grew.Round(time.Millisecond), low.Round(time.Millisecond),
		drained.Round(time.Millisecond), back.Round(time.Millisecond))
	if peak != 4 {
		t.Errorf("at most %d workers ran, want 4", peak)
	}
	// The scaler reads the backlog every 200 ms, as this test does: it may
	// have seen the low backlog up to a reading before the test did.
	if back-low < window-400*time.Millisecond {
		t.Errorf("scaled back to 1 %s after the backlog allowed it, within the %s window", back-low, window)
	}
	waitUntil(t, 15*time.Second, "every job to complete", func() bool { return b.counts(t)[store.StateCompleted] == jobs })
	c := b.counts(t)
	if c[store.StateAvailable]+c[store.StateRunning]+c[store.StateRetryable]+c[store.StateDiscarded] != 0 {
		t.Errorf("jobs left over: %v", c)
	}
	b.stop(t)

	out := b.boiler.out.String()
	for _, want := range []string{
		"boiler   | scaling worker from 1 to 4",
		`boiler   | level=INFO msg="autoscale decision" process=worker action=up current=1 desired=4 recommended=4 backlog=`,
		"needs 20, capped at max 4: scale up 1 → 4",
		"within the stabilization window (2s): keeping 4",
		"worker.4: stopping (scaled down)",
		"worker.4 stopped (exit status 0)",
		"worker.2 stopped (exit status 0)",
		"action=down",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "boiler ") && !strings.HasPrefix(line, "boiler   | ") {
			t.Errorf("a line of boiler's own not aligned with the others: %q", line)
		}
		if strings.Contains(line, "worker.1: stopping (scaled down)") {
			t.Errorf("scaling down stopped worker.1, not the highest-numbered: %q", line)
		}
		if strings.Contains(line, "SIGKILL to") || strings.Contains(line, "level=WARN") {
			t.Errorf("unexpected: %q", line)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// With a memory limit the workers cannot fit (8 MB: 80 % is less than one
// boiler worker), the guard holds the formation below what the backlog
// asks, and says why in the log.
func TestStartAutoscaleMemoryGuardHolds(t *testing.T) {
	t.Parallel()
	b := startAutoscaled(t, "--autoscale", "worker=1..4", "--jobs-per-worker", "10",
		"--autoscale-interval", "200ms", "--autoscale-window", "2s", "--memory-limit", "8MB")
	b.boiler.waitOutput(t, `memory_limit="8 MB (--memory-limit)"`)
	b.enqueue(t, 300, 50)
	b.boiler.waitOutput(t, "memory guard holds back workers")
	b.boiler.waitOutput(t, "of a 8 MB limit (80%: 6 MB)")
	// Watch for a while: the backlog keeps asking for 4, the guard keeps
	// the formation where it was (one more at most, before a worker's
	// size was known).
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if want, _ := b.workers(t); want > 2 {
			t.Fatalf("the formation grew to %d workers past an 8 MB limit:\n%s", want, b.boiler.out.String())
		}
	}
	if c := b.counts(t); c[store.StateAvailable] < 40 {
		t.Fatalf("the backlog (%v) no longer asks for 4 workers: the test proved nothing", c)
	}
	b.stop(t)
	out := b.boiler.out.String()
	for _, want := range []string{
		"level=WARN msg=\"memory guard holds back workers\"",
		"desired=4",
		"instead of 4",
		"apply_error=\"setting worker to 4: memory guard: memory:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// Bad autoscale flags are refused before anything starts, naming the flag.
func TestStartAutoscaleFlags(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"Procfile": "web: exec sleep 986601\nworker: exec sleep 986602\n"})
	pf := filepath.Join(dir, "Procfile")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--autoscale", "wrker=1..4"}, `unknown process type "wrker" (the Procfile has: web, worker)`},
		{[]string{"--autoscale", "worker=4..1"}, "MAX 1 is below MIN 4"},
		{[]string{"--autoscale", "worker=1-4"}, "no MIN..MAX range"},
		{[]string{"--autoscale", "worker"}, "no process type"},
		{[]string{"--autoscale", "worker=1..0"}, `MAX "0" is not a count of 1 or more`},
		{[]string{"--autoscale", "worker=x..2"}, `MIN "x" is not a count`},
		{[]string{"--autoscale", "worker=1..2:"}, "no queue after the colon"},
		{[]string{"--autoscale", "worker=1..2", "--autoscale", "worker=1..3"}, "worker is autoscaled twice"},
		{[]string{"--autoscale", "worker=1..2", "--memory-limit", "lots"}, "--memory-limit: memory size \"lots\""},
		{[]string{"--autoscale", "worker=1..2", "--jobs-per-worker", "0"}, "--jobs-per-worker is 0"},
		{[]string{"--autoscale", "worker=1..2", "--autoscale-interval", "0s"}, "--autoscale-interval is 0s"},
		{[]string{"--autoscale", "worker=1..2", "--process-cap", "-1"}, "--process-cap is -1"},
		{[]string{"--memory-limit", "512MB"}, "--memory-limit applies to autoscaling: add --autoscale TYPE=MIN..MAX"},
		{[]string{"--store", "sqlite://x.db"}, "--store applies to autoscaling"},
	} {
		out, err := runRoot(t, dir, append([]string{"start", "-f", pf}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("start %v: %v (output %q), want an error containing %q", tc.args, err, out, tc.want)
		}
	}
	noneLeft(t, "986601", "986602")

	spec, err := parseAutoscaleSpec("worker=0..8:high,default")
	if err != nil || spec.typ != "worker" || spec.min != 0 || spec.max != 8 || strings.Join(spec.queues, " ") != "high default" {
		t.Fatalf("parseAutoscaleSpec: %+v, %v", spec, err)
	}
}

// The autoscaler's lines look like the supervisor's own.
func TestSystemLines(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	w := newSystemLines(&buf, 9, false, false)
	if _, err := w.Write([]byte("one\ntwo\n")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "boiler    | one\nboiler    | two\n" {
		t.Fatalf("got %q", got)
	}
	plan := &autoscalePlan{specs: []autoscaleSpec{{typ: "worker", max: 12}}}
	if got := logWidth(nil, map[string]int{"worker": 1, "web": 1}, plan); got != 6 {
		t.Fatalf("no entries: width %d, want 6", got)
	}
	entries := []procfile.Entry{{Name: "web"}, {Name: "worker"}}
	if got := logWidth(entries, map[string]int{"worker": 1, "web": 1}, plan); got != len("worker.12") {
		t.Fatalf("worker up to 12: width %d, want %d", got, len("worker.12"))
	}
}
