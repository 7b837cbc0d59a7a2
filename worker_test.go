package boiler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func TestWorkerCompletesJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var mu sync.Mutex
	seen := map[int]int{}
	Handle(b.reg, func(_ context.Context, job *Job[noopArgs]) error {
		mu.Lock()
		seen[job.Args.N]++
		mu.Unlock()
		return nil
	})
	const n = 300
	params := make([]EnqueueParams, n)
	for i := range params {
		params[i] = EnqueueParams{Args: noopArgs{N: i}}
	}
	res, err := b.client.EnqueueMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	w := b.startWorker(t, &WorkerOptions{Concurrency: 10})
	for _, r := range res {
		b.waitState(t, r.Job.ID, store.StateCompleted)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if seen[i] != 1 {
			t.Fatalf("job %d ran %d times", i, seen[i])
		}
	}
	if st := w.Stats(); st.Completed != n || st.Failed != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	job, _ := b.client.JobGet(ctx, res[0].Job.ID)
	if job.Attempt != 1 || job.FinalizedAt.IsZero() || job.LeaseOwner != "" || len(job.Errors) != 0 {
		t.Fatalf("completed job: %+v", job)
	}
}

// TestWorkerWakesOnInsert: with a long poll, a job enqueued into an idle
// worker starts at once thanks to the store's insert notifications.
func TestWorkerWakesOnInsert(t *testing.T) {
	t.Parallel()
	b := setup(t)
	done := make(chan struct{}, 1)
	Handle(b.reg, func(context.Context, *Job[noopArgs]) error { done <- struct{}{}; return nil })
	b.startWorker(t, &WorkerOptions{PollInterval: time.Hour})
	time.Sleep(50 * time.Millisecond) // the first fetch found nothing
	if _, err := b.client.Enqueue(context.Background(), noopArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run: the worker was not woken by the insert")
	}
}

func TestWorkerRetriesThenDiscards(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	Handle(b.reg, func(_ context.Context, job *Job[errArgs]) error {
		return fmt.Errorf("boom on attempt %d", job.Attempt)
	})
	var hookMu sync.Mutex
	var hooked []string
	var backoffs []int
	w := b.startWorker(t, &WorkerOptions{
		Backoff: func(attempt int) time.Duration {
			hookMu.Lock()
			backoffs = append(backoffs, attempt)
			hookMu.Unlock()
			return 10 * time.Millisecond
		},
		OnError: func(_ context.Context, job *JobRow, err error) {
			hookMu.Lock()
			hooked = append(hooked, fmt.Sprintf("%d:%v", job.Attempt, err))
			hookMu.Unlock()
		},
	})
	res, err := b.client.Enqueue(ctx, errArgs{}, &EnqueueOptions{MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	job := b.waitState(t, res.Job.ID, store.StateDiscarded)
	if job.Attempt != 3 || len(job.Errors) != 3 {
		t.Fatalf("discarded job: attempt %d, errors %+v", job.Attempt, job.Errors)
	}
	for i, e := range job.Errors {
		if e.Attempt != i+1 || e.Error != fmt.Sprintf("boom on attempt %d", i+1) || e.At.IsZero() {
			t.Errorf("error %d = %+v", i, e)
		}
	}
	hookMu.Lock()
	defer hookMu.Unlock()
	if strings.Join(hooked, ",") != "1:boom on attempt 1,2:boom on attempt 2,3:boom on attempt 3" {
		t.Errorf("OnError calls: %v", hooked)
	}
	if fmt.Sprint(backoffs) != "[1 2]" {
		t.Errorf("Backoff called with %v, want [1 2] (the last attempt is not retried)", backoffs)
	}
	if st := w.Stats(); st.Failed != 3 || st.Discarded != 1 || st.Completed != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestWorkerRetryableWaitsForBackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	Handle(b.reg, func(context.Context, *Job[errArgs]) error { return errors.New("later") })
	now := time.Now()
	b.startWorker(t, &WorkerOptions{Backoff: func(int) time.Duration { return time.Hour }})
	res, _ := b.client.Enqueue(ctx, errArgs{}, nil)
	job := b.waitState(t, res.Job.ID, store.StateRetryable)
	if d := job.RunAt.Sub(now); d < time.Hour || d > time.Hour+time.Minute {
		t.Fatalf("retry at %s after start, want an hour", d)
	}
}

func TestWorkerSnooze(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var runs atomic.Int32
	var firstRun time.Time
	var secondRun time.Time
	Handle(b.reg, func(_ context.Context, job *Job[noopArgs]) error {
		if job.Attempt != 1 {
			t.Errorf("snoozed job runs with attempt %d, want 1 (a snooze is not an attempt)", job.Attempt)
		}
		if runs.Add(1) == 1 {
			firstRun = time.Now()
			return fmt.Errorf("not ready: %w", Snooze(200*time.Millisecond))
		}
		secondRun = time.Now()
		return nil
	})
	w := b.startWorker(t, nil)
	res, _ := b.client.Enqueue(ctx, noopArgs{}, nil)
	job := b.waitState(t, res.Job.ID, store.StateCompleted)
	if job.Attempt != 1 || len(job.Errors) != 0 || runs.Load() != 2 {
		t.Fatalf("after a snooze: attempt %d, errors %v, runs %d", job.Attempt, job.Errors, runs.Load())
	}
	if gap := secondRun.Sub(firstRun); gap < 200*time.Millisecond {
		t.Fatalf("ran again %s after the snooze, want >= 200ms", gap)
	}
	if st := w.Stats(); st.Snoozed != 1 || st.Completed != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestWorkerHandlerCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var runs atomic.Int32
	Handle(b.reg, func(context.Context, *Job[errArgs]) error {
		runs.Add(1)
		return Cancel(errors.New("account deleted"))
	})
	var hooked atomic.Int32
	w := b.startWorker(t, &WorkerOptions{OnError: func(context.Context, *JobRow, error) { hooked.Add(1) }})
	res, _ := b.client.Enqueue(context.Background(), errArgs{}, nil)
	job := b.waitState(t, res.Job.ID, store.StateCancelled)
	time.Sleep(50 * time.Millisecond)
	if runs.Load() != 1 || len(job.Errors) != 1 || job.Errors[0].Error != "job cancelled by its handler: account deleted" {
		t.Fatalf("cancelled job: runs %d, errors %+v", runs.Load(), job.Errors)
	}
	if hooked.Load() != 0 || w.Stats().Cancelled != 1 {
		t.Fatalf("a cancel is not a failure: OnError called %d times, stats %+v", hooked.Load(), w.Stats())
	}
}

func TestWorkerUnknownKindIsRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	Handle(b.reg, func(context.Context, *Job[noopArgs]) error { return nil })
	Handle(b.reg, func(context.Context, *Job[emailArgs]) error { return nil })
	b.startWorker(t, nil)
	res, _ := b.client.EnqueueRaw(context.Background(), "mystery", nil, &EnqueueOptions{MaxAttempts: 2})
	job := b.waitState(t, res.Job.ID, store.StateDiscarded)
	if job.Attempt != 2 || len(job.Errors) != 2 {
		t.Fatalf("unknown kind: attempt %d, errors %+v (want retried)", job.Attempt, job.Errors)
	}
	if want := `unknown job kind "mystery" (registered: email, noop)`; job.Errors[0].Error != want {
		t.Fatalf("error = %q, want %q", job.Errors[0].Error, want)
	}
}

func TestWorkerUndecodableArgsDiscardedAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var runs atomic.Int32
	Handle(b.reg, func(context.Context, *Job[emailArgs]) error { runs.Add(1); return nil })
	w := b.startWorker(t, nil)
	res, _ := b.client.EnqueueRaw(context.Background(), "email", []byte(`{"to": 42}`), nil)
	job := b.waitState(t, res.Job.ID, store.StateDiscarded)
	if job.Attempt != 1 || len(job.Errors) != 1 || runs.Load() != 0 {
		t.Fatalf("undecodable: attempt %d of %d, errors %+v, handler runs %d", job.Attempt, job.MaxAttempts, job.Errors, runs.Load())
	}
	if e := job.Errors[0].Error; !strings.HasPrefix(e, `decoding args of job kind "email": json: cannot unmarshal number`) {
		t.Fatalf("error = %q", e)
	}
	if st := w.Stats(); st.Discarded != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestWorkerRecoversPanics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	Handle(b.reg, func(_ context.Context, job *Job[noopArgs]) error {
		if job.Attempt == 1 {
			var m map[string]int
			m["boom"]++ // a real runtime panic
		}
		return nil
	})
	b.startWorker(t, &WorkerOptions{Concurrency: 2})
	res, _ := b.client.Enqueue(context.Background(), noopArgs{N: 1}, nil)
	job := b.waitState(t, res.Job.ID, store.StateCompleted)
	if job.Attempt != 2 || len(job.Errors) != 1 {
		t.Fatalf("after a panic: attempt %d, errors %v", job.Attempt, job.Errors)
	}
	e := job.Errors[0].Error
	if !strings.HasPrefix(e, "panic: assignment to entry in nil map") || !strings.Contains(e, "worker_test.go") {
		t.Fatalf("panic error lacks the value or the stack:\n%s", e)
	}
	// The worker kept running.
	res, _ = b.client.Enqueue(context.Background(), noopArgs{N: 2}, nil)
	b.waitJob(t, res.Job.ID, "a run after the panic", func(j *JobRow) bool { return j.Attempt >= 1 && j.State != store.StateRunning })
}

func TestWorkerJobTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	Handle(b.reg, func(ctx context.Context, _ *Job[noopArgs]) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline")
		}
		<-ctx.Done()
		return ctx.Err()
	})
	var hookErr atomic.Value
	b.startWorker(t, &WorkerOptions{
		JobTimeout: time.Hour, // the job's own Timeout wins
		OnError:    func(_ context.Context, _ *JobRow, err error) { hookErr.Store(err) },
	})
	res, _ := b.client.Enqueue(context.Background(), noopArgs{}, &EnqueueOptions{Timeout: 50 * time.Millisecond, MaxAttempts: 1})
	job := b.waitState(t, res.Job.ID, store.StateDiscarded)
	if len(job.Errors) != 1 || job.Errors[0].Error != "job timed out after 50ms: context deadline exceeded" {
		t.Fatalf("timeout errors: %+v", job.Errors)
	}
	waitFor(t, "OnError", func() bool { return hookErr.Load() != nil })
	if err := hookErr.Load().(error); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OnError got %v", err)
	}
}

func TestWorkerNoJobTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	Handle(b.reg, func(ctx context.Context, _ *Job[noopArgs]) error {
		if d, ok := ctx.Deadline(); ok {
			return fmt.Errorf("unexpected deadline %s", d)
		}
		return nil
	})
	b.startWorker(t, &WorkerOptions{JobTimeout: -1})
	res, _ := b.client.Enqueue(context.Background(), noopArgs{}, &EnqueueOptions{MaxAttempts: 1})
	job := b.waitJob(t, res.Job.ID, "a final state", func(j *JobRow) bool { return j.State.Finalized() })
	if job.State != store.StateCompleted {
		t.Fatalf("job %s: %v", job.State, job.Errors)
	}
}

// TestWorkerJobCancelReachesHandler: a person's JobCancel on a running job
// cancels the handler's context at the next heartbeat.
func TestWorkerJobCancelReachesHandler(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := make(chan struct{})
	Handle(b.reg, func(ctx context.Context, _ *Job[noopArgs]) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	w := b.startWorker(t, &WorkerOptions{LeaseFor: 300 * time.Millisecond})
	res, _ := b.client.Enqueue(context.Background(), noopArgs{}, nil)
	<-started
	if _, err := b.client.JobCancel(context.Background(), res.Job.ID); err != nil {
		t.Fatal(err)
	}
	job := b.waitState(t, res.Job.ID, store.StateCancelled)
	if len(job.Errors) != 1 || job.Errors[0].Error != "cancelled by request: context canceled" {
		t.Fatalf("errors: %+v", job.Errors)
	}
	if w.Stats().Cancelled != 1 {
		t.Fatalf("Stats = %+v", w.Stats())
	}
}

func TestWorkerHandlerSeesMetadata(t *testing.T) {
	t.Parallel()
	b := setup(t)
	got := make(chan *Job[emailArgs], 1)
	Handle(b.reg, func(_ context.Context, job *Job[emailArgs]) error { got <- job; return nil })
	b.startWorker(t, &WorkerOptions{Queues: []QueueWeight{{Name: "mail"}}})
	res, _ := b.client.Enqueue(context.Background(), emailArgs{To: "ada"}, &EnqueueOptions{Queue: "mail", Priority: 4})
	job := <-got
	if job.ID != res.Job.ID || job.Attempt != 1 || job.Queue != "mail" || job.Priority != 4 || job.Args.To != "ada" ||
		!job.EnqueuedAt.Equal(res.Job.EnqueuedAt) || job.AttemptedAt.IsZero() {
		t.Fatalf("handler saw %+v args %+v", job.JobRow, job.Args)
	}
}

func TestWorkerServesOnlyItsQueuesInStrictOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	Handle(b.reg, func(_ context.Context, job *Job[noopArgs]) error {
		mu.Lock()
		order = append(order, job.Queue)
		mu.Unlock()
		return nil
	})
	var params []EnqueueParams
	for _, q := range []string{"low", "other", "high", "low", "high"} {
		params = append(params, EnqueueParams{Args: noopArgs{}, Options: &EnqueueOptions{Queue: q}})
	}
	res, err := b.client.EnqueueMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	b.startWorker(t, &WorkerOptions{Concurrency: 1, StrictOrder: true, Queues: []QueueWeight{{Name: "high"}, {Name: "low"}}})
	for _, i := range []int{0, 2, 3, 4} {
		b.waitState(t, res[i].Job.ID, store.StateCompleted)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(order, ",") != "high,high,low,low" {
		t.Fatalf("ran %v", order)
	}
	if j, _ := b.client.JobGet(ctx, res[1].Job.ID); j.State != store.StateAvailable {
		t.Fatalf("job of a queue the worker does not serve: %s", j.State)
	}
}

// TestWorkerStopReleasesUnfinishedJobs: at Stop, a job that finishes in
// time completes; one that stops on cancel and one that ignores it are
// both released without using an attempt, within ShutdownTimeout + 1 s.
func TestWorkerStopReleasesUnfinishedJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	unblock := make(chan struct{})
	var running sync.WaitGroup
	running.Add(3)
	Handle(b.reg, func(ctx context.Context, job *Job[noopArgs]) error {
		running.Done()
		switch job.Args.N {
		case 0: // finishes within the shutdown timeout
			time.Sleep(100 * time.Millisecond)
			return nil
		case 1: // stops when cancelled
			<-ctx.Done()
			return ctx.Err()
		default: // ignores its context
			<-unblock
			return nil
		}
	})
	res, err := b.client.EnqueueMany(ctx, []EnqueueParams{{Args: noopArgs{N: 0}}, {Args: noopArgs{N: 1}}, {Args: noopArgs{N: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	const shutdown = 300 * time.Millisecond
	w, err := NewWorker(b.store, b.reg, &WorkerOptions{ShutdownTimeout: shutdown, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	running.Wait()
	start := time.Now()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	close(unblock)
	if took < shutdown || took > shutdown+time.Second {
		t.Fatalf("Stop took %s, want between %s and %s", took, shutdown, shutdown+time.Second)
	}
	if j, _ := b.client.JobGet(ctx, res[0].Job.ID); j.State != store.StateCompleted {
		t.Fatalf("the job that finished in time is %s", j.State)
	}
	for _, r := range res[1:] {
		j, _ := b.client.JobGet(ctx, r.Job.ID)
		if j.State != store.StateAvailable || j.Attempt != 0 || len(j.Errors) != 0 || j.LeaseOwner != "" {
			t.Fatalf("unfinished job %d after Stop: %s, attempt %d, errors %v, owner %q", r.Job.ID, j.State, j.Attempt, j.Errors, j.LeaseOwner)
		}
	}
	// Stop again, and Start after Stop.
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err == nil {
		t.Fatal("Start after Stop: no error")
	}
}

// TestWorkerStopCtxCutsTheWait: a done ctx makes Stop cancel at once
// instead of waiting for the shutdown timeout.
func TestWorkerStopCtxCutsTheWait(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := make(chan struct{})
	Handle(b.reg, func(ctx context.Context, _ *Job[noopArgs]) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	w, _ := NewWorker(b.store, b.reg, &WorkerOptions{Logger: testLogger(t)}) // ShutdownTimeout 25s
	_ = w.Start(context.Background())
	res, _ := b.client.Enqueue(context.Background(), noopArgs{}, nil)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_ = w.Stop(ctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Stop took %s despite its ctx", took)
	}
	if j, _ := b.client.JobGet(context.Background(), res.Job.ID); j.State != store.StateAvailable || j.Attempt != 0 {
		t.Fatalf("job after Stop: %s attempt %d", j.State, j.Attempt)
	}
}

func TestWorkerRunStopsOnCtx(t *testing.T) {
	t.Parallel()
	b := setup(t)
	Handle(b.reg, func(context.Context, *Job[noopArgs]) error { return nil })
	w, _ := NewWorker(b.store, b.reg, &WorkerOptions{Logger: testLogger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	res, _ := b.client.Enqueue(context.Background(), noopArgs{}, nil)
	b.waitState(t, res.Job.ID, store.StateCompleted)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its ctx was cancelled")
	}
}

func TestWorkerCleansOldJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	Handle(b.reg, func(context.Context, *Job[noopArgs]) error { return nil })
	res, _ := b.client.Enqueue(ctx, noopArgs{}, nil)
	b.startWorker(t, nil)
	b.waitState(t, res.Job.ID, store.StateCompleted)
	// A second worker whose clock is two days ahead sees the job past
	// its retention.
	w, err := NewWorker(b.store, b.reg, &WorkerOptions{Clock: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if n := w.cleaner.Clean(ctx); n != 1 {
		t.Fatalf("cleaned %d jobs, want 1", n)
	}
	if _, err := b.client.JobGet(ctx, res.Job.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("job after cleaning: %v", err)
	}
}

// TestWorkerSurvivesStoreErrors: a fetch error (here: the schema is gone)
// is logged and retried; the worker keeps running and recovers.
func TestWorkerSurvivesStoreErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	Handle(b.reg, func(context.Context, *Job[noopArgs]) error { return nil })
	if _, err := b.store.DB().ExecContext(ctx, `ALTER TABLE jobs RENAME TO jobs_away`); err != nil {
		t.Fatal(err)
	}
	b.startWorker(t, nil)
	time.Sleep(300 * time.Millisecond) // a few failed fetches
	if _, err := b.store.DB().ExecContext(ctx, `ALTER TABLE jobs_away RENAME TO jobs`); err != nil {
		t.Fatal(err)
	}
	res, err := b.client.Enqueue(ctx, noopArgs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.waitState(t, res.Job.ID, store.StateCompleted)
}
