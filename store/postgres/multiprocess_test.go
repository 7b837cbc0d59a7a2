package postgres_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/postgres"
)

// workerProc is one `boiler work` process.
type workerProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // Wait's result, set before done is closed
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startWorker runs `boiler work` on db's schema; it is killed at the end
// of the test if still running.
func startWorker(t *testing.T, db *testDB, args ...string) *workerProc {
	t.Helper()
	if boilerBuildErr != nil {
		t.Fatal(boilerBuildErr)
	}
	p := &workerProc{stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(boilerBin, append([]string{"work", "--store", db.URL}, args...)...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting boiler work: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
			t.Logf("boiler work (pid %d) was still running; its log:\n%s", p.cmd.Process.Pid, p.stderr.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *workerProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("boiler work (pid %d) after SIGTERM: %v; its log:\n%s", p.cmd.Process.Pid, p.err, p.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("boiler work (pid %d) still running 30s after SIGTERM", p.cmd.Process.Pid)
	}
}

// enqueueMany inserts n jobs of kind with args into the default queue.
func enqueueMany(t *testing.T, s *postgres.Store, n int, kind, args string) {
	t.Helper()
	now := time.Now()
	for n > 0 {
		params := make([]*store.JobInsertParams, min(n, 5000))
		for i := range params {
			params[i] = &store.JobInsertParams{Kind: kind, Queue: "default", Args: []byte(args), MaxAttempts: 25}
		}
		if _, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: now, Jobs: params}); err != nil {
			t.Fatal(err)
		}
		n -= len(params)
	}
}

// waitCompleted polls until the default queue has want completed jobs.
func waitCompleted(t *testing.T, s *postgres.Store, want int64, timeout time.Duration, procs ...*workerProc) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last int64
	for {
		stats, err := s.QueueStats(t.Context(), &store.QueueStatsParams{Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		last = 0
		for _, q := range stats {
			if q.Name == "default" {
				last = q.Counts[store.StateCompleted]
			}
		}
		if last >= want {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range procs {
				t.Logf("log of boiler work (pid %d):\n%s", p.cmd.Process.Pid, p.stderr.String())
			}
			t.Fatalf("%d of %d jobs completed after %s; stats %+v", last, want, timeout, stats)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// attemptCounts returns how many jobs are in each state and how many ran
// more than once (attempt > 1).
func attemptCounts(t *testing.T, s *postgres.Store) (total, completed, retried int64) {
	t.Helper()
	err := s.Pool().QueryRow(t.Context(), fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE state = 'completed'),
		count(*) FILTER (WHERE attempt <> 1) FROM %s.jobs`, s.Schema())).Scan(&total, &completed, &retried)
	if err != nil {
		t.Fatal(err)
	}
	return total, completed, retried
}

// The multi-process proof: three worker processes on one
// PostgreSQL drain 20,000 jobs, and every job completes exactly once
// (attempt 1: fetched once, and never by two processes).
func TestThreeWorkerProcessesDrainEachJobOnce(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	const n = 20_000
	enqueueMany(t, s, n, "noop", `{"i": 0}`)
	start := time.Now()
	procs := make([]*workerProc, 3)
	for i := range procs {
		procs[i] = startWorker(t, db, "--concurrency", "50")
	}
	waitCompleted(t, s, n, 3*time.Minute, procs...)
	elapsed := time.Since(start)
	for _, p := range procs {
		p.stop(t)
	}
	checkCounts(t, s)
	total, completed, retried := attemptCounts(t, s)
	if total != n || completed != n || retried != 0 {
		t.Fatalf("after the drain: %d jobs, %d completed, %d with attempt != 1; want %d, %d, 0", total, completed, retried, n, n)
	}
	t.Logf("3 processes drained %d jobs in %s (%.0f jobs/s, process start-up included)", n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
}

// The crash proof on PostgreSQL: a worker process killed with SIGKILL
// mid-run loses no job. Its leases expire (the test expires them at once
// instead of waiting the 30 s lease out), a rescuer makes its jobs
// available again, and another process started after the kill helps
// finish. Only the jobs the killed process held run a second time.
func TestKilledWorkerProcessLosesNoJob(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	const n = 3_000
	enqueueMany(t, s, n, "sleep", `{"ms": 20}`)

	// The victim starts alone, so the only lease owner is its own.
	victim := startWorker(t, db, "--concurrency", "50")
	var owner string
	deadline := time.Now().Add(time.Minute)
	for owner == "" {
		err := s.Pool().QueryRow(t.Context(), fmt.Sprintf(
			`SELECT coalesce(min(lease_owner), '') FROM %s.jobs WHERE state = 'running'`, s.Schema())).Scan(&owner)
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first worker ran no job within a minute; its log:\n%s", victim.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	survivor := startWorker(t, db, "--concurrency", "50")
	waitCompleted(t, s, n/4, 2*time.Minute, victim, survivor)

	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	late := startWorker(t, db, "--concurrency", "50")

	// Time travel for the victim's leases only: the survivors keep
	// extending theirs. A fetch the victim sent just before the kill may
	// still commit on the server after the process is gone (the server
	// finishes a statement it received), so the leases are expired again
	// until none has appeared for half a second; a lease missed here would
	// expire on its own 30 s later and its jobs would run twice without
	// being counted (this test flaked in CI that way).
	var held int64
	for quiet := time.Now(); time.Since(quiet) < 500*time.Millisecond; time.Sleep(50 * time.Millisecond) {
		tag, err := s.Pool().Exec(t.Context(), fmt.Sprintf(
			`UPDATE %s.jobs SET lease_expires_at = $1 WHERE state = 'running' AND lease_owner = $2 AND lease_expires_at > $1`, s.Schema()),
			time.Now().Add(-time.Second), owner)
		if err != nil {
			t.Fatal(err)
		}
		if tag.RowsAffected() > 0 {
			held += tag.RowsAffected()
			quiet = time.Now()
		}
	}
	// The workers' own rescuers may get there first; this one makes sure.
	if _, err := s.JobRescue(t.Context(), &store.JobRescueParams{Now: time.Now(), Limit: n}); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, s, n, 3*time.Minute, survivor, late)
	survivor.stop(t)
	late.stop(t)

	checkCounts(t, s)
	total, completed, retried := attemptCounts(t, s)
	if total != n || completed != n {
		t.Fatalf("after the crash: %d jobs, %d completed; want all %d completed", total, completed, n)
	}
	if retried != held {
		t.Fatalf("%d jobs ran more than once, want exactly the %d the killed process held", retried, held)
	}
	t.Logf("SIGKILL mid-run: all %d jobs completed; %d (those the killed process held) ran a second time", n, held)
}
