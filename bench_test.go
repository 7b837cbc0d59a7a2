package boiler

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// BenchmarkWorkerDrain is the W1 drain through the worker on SQLite: the
// jobs are inserted in bulk (not timed), then a worker of concurrency 100
// runs them all (timed, from Start to the end of Stop, so every outcome is
// recorded). One op is one job; jobs/s is the drain rate.
func BenchmarkWorkerDrain(b *testing.B) {
	ctx := context.Background()
	bundle := setup(b)
	var done atomic.Int64
	n := int64(b.N)
	finished := make(chan struct{})
	Handle(bundle.reg, func(context.Context, *Job[noopArgs]) error {
		if done.Add(1) == n {
			close(finished)
		}
		return nil
	})
	const chunk = 5000
	for i := 0; i < b.N; i += chunk {
		params := make([]EnqueueParams, min(chunk, b.N-i))
		for j := range params {
			params[j] = EnqueueParams{Args: noopArgs{N: i + j}}
		}
		if _, err := bundle.client.EnqueueMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	w, err := NewWorker(bundle.store, bundle.reg, &WorkerOptions{
		Concurrency: 100,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-finished
	if err := w.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()

	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	// CPU per job is steadier than jobs/s on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
	stats, err := bundle.client.QueueStats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if got := stats[0].Counts[store.StateCompleted]; got != int64(b.N) {
		b.Fatalf("%d of %d jobs completed", got, b.N)
	}
}

// BenchmarkWorkerOverhead measures the worker's own cost per job (fetch
// loop, executors, contexts, decoding, completer) with overheadStore, a
// store that does nothing but hand out jobs. It is not a test of any
// store: it shows what the worker adds to a real store's cost, and that
// its hot path does not regress.
func BenchmarkWorkerOverhead(b *testing.B) {
	s := &overheadStore{}
	for i := range b.N {
		s.jobs = append(s.jobs, &store.Job{ID: int64(i + 1), Kind: "noop", Queue: "default", Args: []byte(`{"n":1}`), MaxAttempts: 25})
	}
	reg := NewRegistry()
	var done atomic.Int64
	n := int64(b.N)
	finished := make(chan struct{})
	Handle(reg, func(context.Context, *Job[noopArgs]) error {
		if done.Add(1) == n {
			close(finished)
		}
		return nil
	})
	w, err := NewWorker(s, reg, &WorkerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	<-finished
	_ = w.Stop(context.Background())
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/job")
	if got := s.recorded.Load(); got != n {
		b.Fatalf("%d outcomes recorded, want %d", got, n)
	}
}

// overheadStore hands out its jobs and accepts every outcome; the methods
// the worker does not call in BenchmarkWorkerOverhead are left to the
// embedded nil interface.
type overheadStore struct {
	store.Store
	mu       sync.Mutex
	jobs     []*store.Job
	next     int
	recorded atomic.Int64
}

func (s *overheadStore) JobFetch(_ context.Context, p *store.JobFetchParams) ([]*store.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(p.Limit, len(s.jobs)-s.next)
	out := s.jobs[s.next : s.next+n]
	for _, j := range out {
		j.State, j.Attempt, j.LeaseOwner, j.AttemptedAt, j.LeaseExpiresAt = store.StateRunning, 1, p.Owner, p.Now, p.LeaseExpiresAt
	}
	s.next += n
	return out, nil
}

func (s *overheadStore) JobSetStateIfRunningMany(_ context.Context, p []*store.JobSetStateParams) ([]bool, error) {
	s.recorded.Add(int64(len(p)))
	ok := make([]bool, len(p))
	for i := range ok {
		ok[i] = true
	}
	return ok, nil
}

func (s *overheadStore) JobHeartbeat(context.Context, *store.JobHeartbeatParams) (*store.JobHeartbeatResult, error) {
	return &store.JobHeartbeatResult{}, nil
}

func (s *overheadStore) WorkerBeat(context.Context, *store.WorkerInfo) error { return nil }

func (s *overheadStore) WorkerDelete(context.Context, *store.WorkerDeleteParams) (int, error) {
	return 0, nil
}

func (s *overheadStore) LeaderElect(context.Context, *store.LeaderElectParams) (bool, error) {
	return false, nil
}

func (s *overheadStore) LeaderResign(context.Context, *store.LeaderResignParams) error { return nil }

func (s *overheadStore) JobRescue(context.Context, *store.JobRescueParams) (int, error) {
	return 0, nil
}

func (s *overheadStore) JobDeleteFinalized(context.Context, *store.JobDeleteFinalizedParams) (int, error) {
	return 0, nil
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
