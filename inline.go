package boiler

import (
	"context"

	"github.com/doubleboiler/boiler/store"
)

// NewInlineClient returns a client that runs every job at once, in the
// caller's goroutine, with the handler registered in r, instead of
// storing it: Celery's task_always_eager, for the unit tests of code that
// enqueues jobs.
//
// Enqueue runs the handler once with a synthetic row (a fresh ID, Attempt
// 1, running) under ctx, with the job's Timeout if it has one, and returns
// the handler's error wrapped, so errors.Is sees it; a panic becomes an
// error. On success the result's Job shows the state the job would have
// reached (completed; scheduled or available after a Snooze, which does not
// run it again). RunAt and unique keys are ignored, and a kind with no
// handler is an error. The job-management methods (JobGet, QueueStats...)
// return an error: there is no store.
func NewInlineClient(r *Registry, opts *ClientOptions) *Client {
	if r == nil {
		r = NewRegistry()
	}
	return newClient(nil, r, opts)
}

// runInline runs the job row describes and returns it in its final state.
func (c *Client) runInline(ctx context.Context, p *store.JobInsertParams) (*EnqueueResult, error) {
	now := c.now()
	row := &JobRow{
		ID:          c.inlineID.Add(1),
		Kind:        p.Kind,
		Queue:       p.Queue,
		Priority:    p.Priority,
		Args:        p.Args,
		State:       store.StateRunning,
		Attempt:     1,
		MaxAttempts: p.MaxAttempts,
		Timeout:     p.Timeout,
		EnqueuedAt:  now,
		RunAt:       now,
		AttemptedAt: now,
		UniqueKey:   p.UniqueKey,
		UniqueUntil: p.UniqueUntil,
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.Timeout > 0 {
		jobCtx, cancel = context.WithTimeoutCause(jobCtx, p.Timeout, errJobTimeout)
		defer cancel()
	}
	err := c.reg.run(jobCtx, row)
	res := (&attemptResult{
		row: row, err: err, cause: contextCause(jobCtx), timeout: p.Timeout,
		now: c.now(), backoff: DefaultBackoff,
	}).decide()
	if err != nil && !res.UndoAttempt {
		return nil, err
	}
	row.State, row.RunAt = res.State, res.RunAt
	if res.UndoAttempt {
		row.Attempt--
	}
	if res.State.Finalized() {
		row.FinalizedAt = res.Now
	}
	return &EnqueueResult{Job: row}, nil
}
