package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// runningJob is a job leased by this worker whose outcome is not yet
// decided.
type runningJob struct {
	row    *JobRow
	ctx    context.Context // cancelled by a cancel request or the shutdown
	cancel context.CancelCauseFunc
	// claimed is set by whoever decides the job's outcome first: its
	// goroutine when the handler returns, or Stop when it releases a job
	// whose handler would not stop.
	claimed atomic.Bool
}

// executorIdle is how long an executor goroutine waits for its next job
// before it exits.
const executorIdle = 5 * time.Second

// dispatch takes the jobs of one fetch: each starts at once on a free
// slot (an idle executor goroutine, or a new one), or, when every slot is
// taken, waits in the buffer for the next executor that finishes (see
// WorkerOptions.Prefetch). It is called by the fetch loop, which counts
// the slots and the buffer before it fetches again.
//
// Executors outlive their job: a fresh goroutine starts with a small
// stack, and growing it (JSON decoding alone needs several kilobytes)
// cost about half of the worker's time per job when each job had its own
// goroutine. An idle executor exits after executorIdle, so a worker that
// was busy gives its memory back.
func (w *Worker) dispatch(jobs []*JobRow) {
	if len(jobs) == 0 {
		return
	}
	start := make([]*runningJob, 0, len(jobs))
	w.mu.Lock()
	for _, job := range jobs {
		// Not derived from hardCtx: a hundred goroutines registering
		// children with one parent contend on its lock. Stop cancels each
		// job instead.
		ctx, cancel := context.WithCancelCause(w.baseCtx)
		rj := &runningJob{row: job, cancel: cancel, ctx: ctx}
		w.running[job.ID] = rj
		if w.busy < w.opts.Concurrency {
			w.busy++
			start = append(start, rj)
		} else {
			w.buffer = append(w.buffer, rj)
		}
	}
	w.active.Store(int64(w.busy))
	w.buffered.Store(int64(len(w.buffer)))
	w.mu.Unlock()
	for _, rj := range start {
		select {
		case w.idle <- rj:
		default:
			go w.executor(rj)
		}
	}
}

// executor runs rj, then the buffered jobs and the jobs handed to it,
// until it has been idle for executorIdle or the worker has stopped.
func (w *Worker) executor(rj *runningJob) {
	timer := time.NewTimer(executorIdle)
	defer timer.Stop()
	for {
		w.execute(rj.ctx, rj)
		if rj = w.jobDone(rj); rj != nil {
			continue // the slot goes on to a buffered job
		}
		timer.Reset(executorIdle)
		select {
		case rj = <-w.idle:
		case <-timer.C:
			return
		case <-w.quit:
			return
		}
	}
}

// execute runs one job's handler and hands its outcome to the completer.
// A job whose context is already done when its turn comes (a person
// cancelled it while it waited in the buffer) is not run: its outcome is
// decided as if its handler had returned the cancellation's cause.
func (w *Worker) execute(ctx context.Context, rj *runningJob) {
	timeout := rj.row.Timeout
	if timeout == 0 {
		timeout = w.opts.JobTimeout
	}
	var err error
	var result json.RawMessage
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	} else {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeoutCause(ctx, timeout, errJobTimeout)
			defer cancel()
		}
		row := *rj.row // the handler's copy: the guard fields stay intact
		result, err = w.reg.run(ctx, &row, w.store)
	}
	res := (&attemptResult{
		row: rj.row, err: err, result: result, cause: contextCause(ctx), timeout: timeout,
		now: w.now(), backoff: w.opts.Backoff,
	}).decide()
	if !rj.claimed.CompareAndSwap(false, true) {
		return // released by Stop already
	}
	w.completer.Add(res)
	w.record(rj.row, err, res)
}

// jobDone frees rj's slot, or hands it to the first buffered job, which
// it returns (nil when none waits).
func (w *Worker) jobDone(rj *runningJob) *runningJob {
	rj.cancel(nil)
	var next *runningJob
	w.mu.Lock()
	delete(w.running, rj.row.ID)
	if len(w.buffer) > 0 {
		next = w.buffer[0]
		w.buffer[0] = nil
		w.buffer = w.buffer[1:]
		if len(w.buffer) == 0 {
			w.buffer = nil // let the backing array go
		}
		w.buffered.Store(int64(len(w.buffer)))
	} else {
		w.busy--
		w.active.Store(int64(w.busy))
	}
	w.mu.Unlock()
	select {
	case w.finished <- struct{}{}:
	default:
	}
	return next
}

// releaseBuffered releases the jobs waiting in the buffer (at Stop): they
// become available again at once, their attempt undone, and no executor
// can take them any more. It returns how many it released.
func (w *Worker) releaseBuffered() int {
	w.mu.Lock()
	buf := w.buffer
	w.buffer = nil
	w.buffered.Store(0)
	for _, rj := range buf {
		delete(w.running, rj.row.ID)
	}
	w.mu.Unlock()
	now := w.now()
	for _, rj := range buf {
		rj.claimed.Store(true)
		rj.cancel(errWorkerShutdown)
		w.completer.AddNoWait(releaseParams(rj.row, now))
	}
	return len(buf)
}

// releaseParams hands a leased job back: available at now, its attempt
// undone.
func releaseParams(row *JobRow, now time.Time) *store.JobSetStateParams {
	return &store.JobSetStateParams{
		ID: row.ID, Owner: row.LeaseOwner, Attempt: row.Attempt,
		State: store.StateAvailable, Now: now, RunAt: now, UndoAttempt: true,
	}
}

// record counts and logs an outcome, and calls OnError for a failure.
func (w *Worker) record(row *JobRow, err error, res *store.JobSetStateParams) {
	attrs := func(more ...slog.Attr) []slog.Attr {
		return append([]slog.Attr{
			slog.Int64("job_id", row.ID), slog.String("kind", row.Kind), slog.String("queue", row.Queue),
			slog.Int("attempt", row.Attempt), slog.Int("max_attempts", row.MaxAttempts),
		}, more...)
	}
	ctx := w.baseCtx
	switch res.State {
	case store.StateCompleted:
		w.stats.completed.Add(1)
		if w.log.Enabled(ctx, slog.LevelDebug) {
			w.log.LogAttrs(ctx, slog.LevelDebug, "job completed", attrs()...)
		}
		return
	case store.StateScheduled, store.StateAvailable:
		var snooze *snoozeError
		if errors.As(err, &snooze) {
			w.stats.snoozed.Add(1)
		}
		return // snoozed, or released at shutdown
	case store.StateCancelled:
		w.stats.cancelled.Add(1)
		w.log.LogAttrs(ctx, slog.LevelInfo, "job cancelled", attrs(slog.String("error", res.Error.Error))...)
		return
	case store.StateRetryable:
		w.stats.failed.Add(1)
		w.log.LogAttrs(ctx, slog.LevelWarn, "job failed; it will be retried",
			attrs(slog.Time("retry_at", res.RunAt), slog.String("error", res.Error.Error))...)
	case store.StateDiscarded:
		w.stats.failed.Add(1)
		w.stats.discarded.Add(1)
		w.log.LogAttrs(ctx, slog.LevelError, "job failed and was discarded",
			attrs(slog.String("error", res.Error.Error))...)
	}
	if w.opts.OnError != nil {
		w.callOnError(ctx, row, err)
	}
}

// callOnError calls the OnError hook; a panic in it is logged, not fatal.
func (w *Worker) callOnError(ctx context.Context, row *JobRow, err error) {
	defer func() {
		if v := recover(); v != nil {
			w.log.Error("OnError hook panicked", slog.Int64("job_id", row.ID), slog.Any("panic", v))
		}
	}()
	w.opts.OnError(ctx, row, err)
}

// cancelAll cancels the context of every running job with cause.
func (w *Worker) cancelAll(cause error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, rj := range w.running {
		rj.cancel(cause)
	}
}

// cancelRequested cancels the contexts of running jobs a person cancelled
// (the heartbeater learns of them).
func (w *Worker) cancelRequested(ids []int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if rj, ok := w.running[id]; ok {
			rj.cancel(errCancelRequested)
		}
	}
}

// releaseAll releases the jobs whose handlers did not return after their
// context was cancelled at shutdown: they become available again, their
// attempt undone. Their goroutines' outcomes, if they ever come, are
// dropped.
func (w *Worker) releaseAll() {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, rj := range w.running {
		if !rj.claimed.CompareAndSwap(false, true) {
			continue
		}
		n++
		w.completer.AddNoWait(releaseParams(rj.row, now))
	}
	if n > 0 {
		w.log.Warn("released jobs whose handler ignored the cancellation; their goroutines may still be running",
			slog.Int("jobs", n))
	}
}
