package boiler

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// TestWorkerPrefetch: with every slot taken, the worker leases up to
// Prefetch more jobs; they wait for a slot with their leases extended by
// the heartbeats, run as soon as a slot frees up, and at Stop the ones
// still waiting go back to the queue, no attempt charged, and never run.
func TestWorkerPrefetch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	release := make(chan struct{}, 10)
	var ran atomic.Int64
	Handle(b.reg, func(ctx context.Context, job *Job[noopArgs]) error {
		ran.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	const prefetch = 3
	params := make([]EnqueueParams, 1+prefetch+2)
	for i := range params {
		params[i] = EnqueueParams{Args: noopArgs{N: i}}
	}
	res, err := b.client.EnqueueMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	const lease = time.Second
	w, err := NewWorker(b.store, b.reg, &WorkerOptions{
		Concurrency: 1, FetchBatch: 10, Prefetch: prefetch, LeaseFor: lease,
		PollInterval: 10 * time.Millisecond, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })

	leased := func() (ids []int64) {
		for _, r := range res {
			if j, _ := b.client.JobGet(ctx, r.Job.ID); j.State == store.StateRunning && j.LeaseOwner == w.ID() {
				ids = append(ids, j.ID)
			}
		}
		return ids
	}
	waitFor(t, "one running job and a full buffer", func() bool { return len(leased()) == 1+prefetch })
	if got := ran.Load(); got != 1 {
		t.Fatalf("%d handlers ran with Concurrency 1", got)
	}
	if st := w.Stats(); st.Running != 1 {
		t.Fatalf("Stats().Running = %d, want 1 (prefetched jobs do not run)", st.Running)
	}
	first := leased()

	// Two lease lengths later the buffered jobs are still leased to
	// this worker (its own rescuer would have taken them back otherwise).
	time.Sleep(2 * lease)
	if got := leased(); len(got) != 1+prefetch || got[0] != first[0] {
		t.Fatalf("after 2 leases: leased %v, want %v (the prefetched jobs' leases must be extended)", got, first)
	}
	for _, id := range first {
		if j, _ := b.client.JobGet(ctx, id); j.Attempt != 1 || len(j.Errors) != 0 {
			t.Fatalf("job %d: attempt %d, errors %v: a lease expired", id, j.Attempt, j.Errors)
		}
	}

	// A freed slot takes the next buffered job, and the buffer refills.
	release <- struct{}{}
	b.waitState(t, first[0], store.StateCompleted)
	waitFor(t, "the second job to start", func() bool { return ran.Load() == 2 })
	waitFor(t, "the buffer to refill", func() bool { return len(leased()) == 1+prefetch })
	waiting := leased()

	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(context.Background()) }()
	// The waiting jobs are released while the running one still runs.
	for _, id := range waiting[1:] {
		b.waitJob(t, id, "its release", func(j *JobRow) bool {
			return j.State == store.StateAvailable && j.Attempt == 0 && len(j.Errors) == 0 && j.LeaseOwner == ""
		})
	}
	release <- struct{}{}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	b.waitState(t, waiting[0], store.StateCompleted)
	time.Sleep(50 * time.Millisecond)
	if got := ran.Load(); got != 2 {
		t.Fatalf("%d handlers ran, want 2: a released job ran", got)
	}
}

// TestWorkerPrefetchedJobCancelled: a job a person cancels while it waits
// in the buffer is cancelled when its turn comes, without running.
func TestWorkerPrefetchedJobCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	release := make(chan struct{})
	var ran atomic.Int64
	Handle(b.reg, func(ctx context.Context, job *Job[noopArgs]) error {
		ran.Add(1)
		if job.Args.N == 0 {
			<-release
		}
		return nil
	})
	res, err := b.client.EnqueueMany(ctx, []EnqueueParams{{Args: noopArgs{N: 0}}, {Args: noopArgs{N: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	w := b.startWorker(t, &WorkerOptions{Concurrency: 1, Prefetch: 1, LeaseFor: 300 * time.Millisecond})
	b.waitJob(t, res[1].Job.ID, "its prefetch", func(j *JobRow) bool { return j.State == store.StateRunning })
	if _, err := b.client.JobCancel(ctx, res[1].Job.ID); err != nil {
		t.Fatal(err)
	}
	// The next heartbeat (every LeaseFor/3) passes the request on to the
	// waiting job's context.
	waitFor(t, "the cancel request to reach the prefetched job", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		rj := w.running[res[1].Job.ID]
		return rj != nil && rj.ctx.Err() != nil
	})
	close(release)
	j := b.waitState(t, res[1].Job.ID, store.StateCancelled)
	if len(j.Errors) != 1 {
		t.Fatalf("cancelled job's errors: %v", j.Errors)
	}
	b.waitState(t, res[0].Job.ID, store.StateCompleted)
	if got := ran.Load(); got != 1 {
		t.Fatalf("%d handlers ran, want 1: the cancelled job ran", got)
	}
	if st := w.Stats(); st.Cancelled != 1 || st.Completed != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}
