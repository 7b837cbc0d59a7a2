package boiler

import (
	"context"
	"errors"
	"fmt"

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
// reached (completed, with the handler's result; scheduled or available
// after a Snooze, which does not run it again). RunAt and unique keys are
// ignored, and a kind with no handler is an error. EnqueueWorkflow runs
// the workflow's jobs one after the other (see [Client.EnqueueWorkflow]),
// and their handlers' DepResults read the results of the jobs run before.
// The job-management methods (JobGet, WorkflowGet, QueueStats...) return
// an error: there is no store.
func NewInlineClient(r *Registry, opts *ClientOptions) *Client {
	if r == nil {
		r = NewRegistry()
	}
	return newClient(nil, r, opts)
}

// runInline runs the job p describes and returns it in its final state,
// or the handler's error.
func (c *Client) runInline(ctx context.Context, p *store.JobInsertParams) (*EnqueueResult, error) {
	row, err := c.inlineAttempt(ctx, p, c.inlineID.Add(1), nil, nil)
	if err != nil && !isSnooze(err) {
		return nil, err
	}
	return &EnqueueResult{Job: row}, nil
}

// inlineAttempt runs the job p describes once, as job id waiting for deps
// (read through reader), and returns its row in the state the attempt led
// to (completed with its result; scheduled or available after a Snooze;
// otherwise the failed state a worker would record, its error appended)
// and the handler's error.
func (c *Client) inlineAttempt(ctx context.Context, p *store.JobInsertParams, id int64, deps []int64, reader depsReader) (*JobRow, error) {
	now := c.now()
	row := &JobRow{
		ID:           id,
		Kind:         p.Kind,
		Queue:        p.Queue,
		Priority:     p.Priority,
		Args:         p.Args,
		State:        store.StateRunning,
		Attempt:      1,
		MaxAttempts:  p.MaxAttempts,
		Timeout:      p.Timeout,
		EnqueuedAt:   now,
		RunAt:        now,
		AttemptedAt:  now,
		UniqueKey:    p.UniqueKey,
		UniqueUntil:  p.UniqueUntil,
		Workflow:     p.Workflow,
		Deps:         deps,
		RunOnFailure: p.RunOnFailure,
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if p.Timeout > 0 {
		jobCtx, cancel = context.WithTimeoutCause(jobCtx, p.Timeout, errJobTimeout)
		defer cancel()
	}
	handlerRow := *row // the handler's copy
	result, err := c.reg.run(jobCtx, &handlerRow, reader)
	res := (&attemptResult{
		row: row, err: err, result: result, cause: contextCause(jobCtx), timeout: p.Timeout,
		now: c.now(), backoff: DefaultBackoff,
	}).decide()
	row.State, row.RunAt, row.Result = res.State, res.RunAt, res.Result
	if res.UndoAttempt {
		row.Attempt--
	}
	if res.Error != nil {
		row.Errors = append(row.Errors, *res.Error)
	}
	if res.State.Finalized() {
		row.FinalizedAt = res.Now
	}
	return row, err
}

// runInlineWorkflow runs a workflow's rows (each waits only for earlier
// ones) one after the other, as the stores' DepsPolicy would order them:
// a job runs once its dependencies completed, or, with RunOnFailure, once
// they are finalized; otherwise it is cancelled naming the dependency.
// Each job runs once: a failed attempt discards it (or cancels it, for a
// Cancel). It
// returns every job in the state it reached and, if one failed or
// snoozed, an error naming the first.
func (c *Client) runInlineWorkflow(ctx context.Context, id string, rows []*store.JobInsertParams) (*WorkflowResult, error) {
	out := &WorkflowResult{ID: id, Jobs: make([]*JobRow, len(rows))}
	done := inlineJobs{}
	var first error
	for i, p := range rows {
		jobID := c.inlineID.Add(1)
		deps := make([]int64, len(p.After))
		var failed *JobRow // the first dependency that did not complete
		waiting := false
		for k, d := range p.After {
			dep := out.Jobs[d]
			deps[k] = dep.ID
			switch {
			case !dep.State.Finalized():
				waiting = true
			case dep.State != store.StateCompleted && failed == nil:
				failed = dep
			}
		}
		var row *JobRow
		var err error
		switch {
		case failed != nil && !p.RunOnFailure:
			row = c.inlineCancelled(p, jobID, deps, failed)
		case waiting:
			row = c.inlineWaiting(p, jobID, deps)
		default:
			row, err = c.inlineAttempt(ctx, p, jobID, deps, done)
			if row.State == store.StateRetryable {
				// One attempt only: the failure is final.
				row.State, row.RunAt, row.FinalizedAt = store.StateDiscarded, row.AttemptedAt, c.now()
			}
		}
		out.Jobs[i] = row
		done[row.ID] = row
		if first != nil {
			continue
		}
		switch {
		case err != nil && isSnooze(err):
			first = fmt.Errorf("enqueue workflow: job %d of %d (%s) snoozed; the inline client does not run it again, so the jobs after it stay waiting", i+1, len(rows), row.Kind)
		case err != nil:
			first = fmt.Errorf("enqueue workflow: job %d of %d (%s) failed: %w", i+1, len(rows), row.Kind, err)
		}
	}
	return out, first
}

// inlineRow is the row of an inline workflow's job that did not run.
func (c *Client) inlineRow(p *store.JobInsertParams, id int64, deps []int64, state store.State) *JobRow {
	now := c.now()
	return &JobRow{
		ID: id, Kind: p.Kind, Queue: p.Queue, Priority: p.Priority, Args: p.Args, State: state,
		MaxAttempts: p.MaxAttempts, Timeout: p.Timeout, EnqueuedAt: now, RunAt: now,
		Workflow: p.Workflow, Deps: deps, DepsLeft: len(deps), RunOnFailure: p.RunOnFailure,
	}
}

// inlineWaiting is a job left waiting (a dependency snoozed).
func (c *Client) inlineWaiting(p *store.JobInsertParams, id int64, deps []int64) *JobRow {
	return c.inlineRow(p, id, deps, store.StateWaiting)
}

// inlineCancelled is a job cancelled because dep failed, with the error a
// store records.
func (c *Client) inlineCancelled(p *store.JobInsertParams, id int64, deps []int64, dep *JobRow) *JobRow {
	row := c.inlineRow(p, id, deps, store.StateCancelled)
	row.DepsLeft = 0
	row.FinalizedAt = row.EnqueuedAt
	row.Errors = []store.AttemptError{{At: row.EnqueuedAt, Error: fmt.Sprintf("dependency job %d was %s", dep.ID, dep.State)}}
	return row
}

// inlineJobs are the jobs an inline workflow has run so far, for
// DepResults.
type inlineJobs map[int64]*JobRow

// JobGetMany returns the jobs of ids that exist, in order.
func (m inlineJobs) JobGetMany(_ context.Context, ids []int64) ([]*store.Job, error) {
	out := make([]*store.Job, 0, len(ids))
	for _, id := range ids {
		if j, ok := m[id]; ok {
			out = append(out, j)
		}
	}
	return out, nil
}

// isSnooze reports whether a handler's error is a Snooze.
func isSnooze(err error) bool {
	var snooze *snoozeError
	return errors.As(err, &snooze)
}
