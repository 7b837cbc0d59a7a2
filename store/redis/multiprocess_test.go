package redis

// Several `boiler work` processes on one Redis: every job completes exactly
// once when nobody dies, and nothing is lost when one is killed with
// SIGKILL mid-run. The boiler binary is built once per test binary, the
// first time a test here needs it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// boilerBinary builds cmd/boiler into a temporary directory, once.
var boilerBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "boiler-redis-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "boiler")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/doubleboiler/boiler/cmd/boiler")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/boiler: %v\n%s", err, out)
	}
	return bin, nil
})

// workerProc is one `boiler work` process.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{} // closed when the process has exited; err is then set
	err    error
}

// startWorker starts `boiler work` on the store URL; the process is
// killed at the end of the test if it still runs.
func startWorker(t *testing.T, storeURL string) *workerProc {
	t.Helper()
	bin, err := boilerBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &workerProc{stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "work", "--store", storeURL, "--concurrency", "100")
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting boiler work: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("worker %d stderr:\n%s", p.cmd.Process.Pid, p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *workerProc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("worker %d exited with %v", p.cmd.Process.Pid, p.err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("worker %d still running 30s after SIGTERM", p.cmd.Process.Pid)
	}
}

// checkRunning fails the test if a worker has exited.
func checkRunning(t *testing.T, workers []*workerProc) {
	t.Helper()
	for _, w := range workers {
		select {
		case <-w.exited:
			t.Fatalf("worker %d exited early (%v):\n%s", w.cmd.Process.Pid, w.err, w.stderr.String())
		default:
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// insertNoops inserts n noop jobs in the default queue, in batches.
func insertNoops(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; i < n; i += 1000 {
		batch := make([]*store.JobInsertParams, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			batch = append(batch, &store.JobInsertParams{
				Kind: "noop", Queue: "default", Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, j)), MaxAttempts: 25,
			})
		}
		if _, err := s.JobInsertMany(context.Background(), &store.JobInsertManyParams{Jobs: batch, Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitCounts polls the default queue's counts until done says stop,
// failing if one of workers exits meanwhile.
func waitCounts(t *testing.T, s *Store, workers []*workerProc, timeout time.Duration, what string, done func(map[store.State]int64) bool) map[store.State]int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		checkRunning(t, workers)
		stats, err := s.QueueStats(context.Background(), &store.QueueStatsParams{Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[store.State]int64{}
		for _, q := range stats {
			if q.Name == "default" {
				counts = q.Counts
			}
		}
		if done(counts) {
			return counts
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; counts %v", what, timeout, counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// allJobs lists every job of the store.
func allJobs(t *testing.T, s *Store) []*store.Job {
	t.Helper()
	var all []*store.Job
	var before int64
	for {
		page, err := s.JobList(context.Background(), &store.JobListParams{BeforeID: before, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		before = page[len(page)-1].ID
	}
}

// requireMultiProcess skips the multi-process tests in -short mode, and
// when Redis is unreachable.
func requireMultiProcess(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("multi-process test: skipped with -short")
	}
	requireRedis(t)
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("multi-process test: no go command to build cmd/boiler")
	}
	if _, err := boilerBinary(); err != nil {
		t.Fatal(err)
	}
}

// Three worker processes drain 20,000 jobs; each completes exactly once
// (one attempt: no job was fetched twice, none rescued).
func TestThreeProcessesDrainEveryJobExactlyOnce(t *testing.T) {
	t.Parallel()
	requireMultiProcess(t)
	const n = 20_000
	prefix := testPrefix(t)
	s := openStoreWithPrefix(t, prefix, "")
	insertNoops(t, s, n)
	url := withQuery(testURL(), "boiler_prefix="+prefix)
	start := time.Now()
	workers := []*workerProc{startWorker(t, url), startWorker(t, url), startWorker(t, url)}
	waitCounts(t, s, workers, 90*time.Second, "all jobs completed", func(c map[store.State]int64) bool {
		return c[store.StateCompleted] == n
	})
	elapsed := time.Since(start)
	for _, w := range workers {
		w.stop(t)
	}
	jobs := allJobs(t, s)
	if len(jobs) != n {
		t.Fatalf("store holds %d jobs, want %d", len(jobs), n)
	}
	for _, j := range jobs {
		if j.State != store.StateCompleted || j.Attempt != 1 || len(j.Errors) != 0 {
			t.Fatalf("job %d: state %s, attempt %d, errors %v; want completed at its first attempt", j.ID, j.State, j.Attempt, j.Errors)
		}
	}
	t.Logf("3 processes drained %d jobs in %s (%.0f jobs/s, process start included)", n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
}

// A worker process killed with SIGKILL mid-run loses no job: its leased
// jobs stay running under its lease, and once the lease has expired they
// are rescued and run by the other processes, including one started after
// the kill. The lease of `boiler work` is 30 s; instead of waiting for it,
// the test rescues with a Now just past the dead worker's leases (every
// store call takes the caller's clock), once the living workers hold none.
func TestKilledProcessLosesNoJob(t *testing.T) {
	t.Parallel()
	requireMultiProcess(t)
	const n = 20_000
	prefix := testPrefix(t)
	s := openStoreWithPrefix(t, prefix, "")
	insertNoops(t, s, n)
	url := withQuery(testURL(), "boiler_prefix="+prefix)
	victim := startWorker(t, url)
	others := []*workerProc{startWorker(t, url), startWorker(t, url)}
	waitCounts(t, s, append([]*workerProc{victim}, others...), 60*time.Second, "a tenth of the jobs completed", func(c map[store.State]int64) bool {
		return c[store.StateCompleted] >= n/10
	})
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	if victim.err == nil || !strings.Contains(victim.err.Error(), "killed") {
		t.Fatalf("victim exited with %v, want killed", victim.err)
	}
	others = append(others, startWorker(t, url))

	// The living workers run everything but the victim's leased jobs.
	victimTag := fmt.Sprintf("-%d-", victim.cmd.Process.Pid)
	var lastLease time.Time
	held := 0
	deadline := time.Now().Add(90 * time.Second)
	for {
		counts := waitCounts(t, s, others, time.Until(deadline), "every job completed or running", func(c map[store.State]int64) bool {
			return c[store.StateAvailable] == 0 && c[store.StateCompleted]+c[store.StateRunning] == n
		})
		held, lastLease = 0, time.Time{}
		onlyVictim := true
		for _, j := range allJobs(t, s) {
			if j.State != store.StateRunning {
				continue
			}
			if !strings.Contains(j.LeaseOwner, victimTag) {
				onlyVictim = false // a living worker is finishing it
				break
			}
			held++
			if j.LeaseExpiresAt.After(lastLease) {
				lastLease = j.LeaseExpiresAt
			}
		}
		if onlyVictim && held == int(counts[store.StateRunning]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("living workers still hold jobs after 90s; counts %v", counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if held > 0 {
		// A living worker's rescuer may have got some first, if the test
		// ran longer than the lease: the final check counts them all.
		rescued, err := s.JobRescue(context.Background(), &store.JobRescueParams{Now: lastLease.Add(time.Microsecond), Limit: n})
		if err != nil || rescued > held {
			t.Fatalf("JobRescue = %d, %v; want at most the %d jobs of the dead worker", rescued, err, held)
		}
	}
	waitCounts(t, s, others, 60*time.Second, "all jobs completed", func(c map[store.State]int64) bool {
		return c[store.StateCompleted] == n
	})
	for _, w := range others {
		w.stop(t)
	}
	again := 0
	for _, j := range allJobs(t, s) {
		switch {
		case j.State != store.StateCompleted:
			t.Fatalf("job %d is %s, want completed", j.ID, j.State)
		case j.Attempt > 2 || j.Attempt == 2 && len(j.Errors) != 1:
			t.Fatalf("job %d: attempt %d with errors %v", j.ID, j.Attempt, j.Errors)
		case j.Attempt == 2:
			again++
		}
	}
	if again != held {
		t.Fatalf("%d jobs ran a second time, want the %d the dead worker held", again, held)
	}
	t.Logf("SIGKILL mid-run: %d of %d jobs were leased by the killed worker and delivered again (at most that many ran twice); none lost", held, n)
}

// Three worker processes complete the dependencies of 300 chords (20 jobs
// and a callback each) concurrently, their completions batched: every
// callback runs exactly once, only after all 20 of its dependencies
// completed, and nothing is left waiting.
func TestThreeProcessesCountDependenciesExactly(t *testing.T) {
	t.Parallel()
	requireMultiProcess(t)
	const chords, width = 300, 20
	prefix := testPrefix(t)
	s := openStoreWithPrefix(t, prefix, "")
	var callbacks []int64
	for c := range chords {
		batch := make([]*store.JobInsertParams, 0, width+1)
		after := make([]int, width)
		for i := range width {
			batch = append(batch, &store.JobInsertParams{
				Kind: "noop", Queue: "default", Args: json.RawMessage(fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)), MaxAttempts: 25,
			})
			after[i] = i
		}
		batch = append(batch, &store.JobInsertParams{
			Kind: "noop", Queue: "default", Args: json.RawMessage(fmt.Sprintf(`{"c":%d}`, c)), MaxAttempts: 25,
			Workflow: fmt.Sprintf("chord-%d", c), After: after,
		})
		res, err := s.JobInsertMany(context.Background(), &store.JobInsertManyParams{Jobs: batch, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if cb := res[width].Job; cb.State != store.StateWaiting || cb.DepsLeft != width {
			t.Fatalf("callback %d inserted %s with DepsLeft %d, want waiting with %d", cb.ID, cb.State, cb.DepsLeft, width)
		}
		callbacks = append(callbacks, res[width].Job.ID)
	}
	url := withQuery(testURL(), "boiler_prefix="+prefix)
	workers := []*workerProc{startWorker(t, url), startWorker(t, url), startWorker(t, url)}
	waitCounts(t, s, workers, 90*time.Second, "all jobs completed", func(c map[store.State]int64) bool {
		return c[store.StateCompleted] == chords*(width+1)
	})
	for _, w := range workers {
		w.stop(t)
	}
	cbs, err := s.JobGetMany(context.Background(), callbacks)
	if err != nil || len(cbs) != chords {
		t.Fatalf("JobGetMany of the callbacks: %d jobs, %v", len(cbs), err)
	}
	for _, cb := range cbs {
		deps, err := s.JobGetMany(context.Background(), cb.Deps)
		if err != nil || len(deps) != width {
			t.Fatalf("callback %d: JobGetMany of its %d deps: %d jobs, %v", cb.ID, len(cb.Deps), len(deps), err)
		}
		if cb.State != store.StateCompleted || cb.Attempt != 1 || cb.DepsLeft != 0 {
			t.Fatalf("callback %d: state %s, attempt %d, DepsLeft %d; want completed at its first attempt with DepsLeft 0",
				cb.ID, cb.State, cb.Attempt, cb.DepsLeft)
		}
		for _, d := range deps {
			if d.State != store.StateCompleted || cb.AttemptedAt.Before(d.FinalizedAt) {
				t.Fatalf("callback %d started at %s, dependency %d is %s, finalized at %s",
					cb.ID, cb.AttemptedAt.Format(time.RFC3339Nano), d.ID, d.State, d.FinalizedAt.Format(time.RFC3339Nano))
			}
		}
	}
}
