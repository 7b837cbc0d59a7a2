package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// maxErrorLen bounds an error message recorded on a job (a panic's stack
// can be long; the store keeps one message per attempt).
const maxErrorLen = 16 << 10

// attemptResult is what one attempt of a job came to.
type attemptResult struct {
	row     *JobRow
	err     error           // the handler's error
	result  json.RawMessage // the handler's result, stored if it succeeded
	cause   error           // why the job's context ended, nil if it did not
	timeout time.Duration   // the attempt's timeout, for the error message
	now     time.Time
	backoff func(attempt int) time.Duration
}

// decide turns an attempt's result into the job's next state:
//
//   - nil: completed, with the handler's result.
//   - Snooze(d): scheduled at now+d (available if d is 0), attempt undone.
//   - Cancel(err): cancelled, err recorded.
//   - args that do not decode: discarded at once, the error recorded.
//   - any error after the worker's shutdown cancelled the job: available
//     at once, attempt undone (a job cut short by a deploy is not charged).
//   - any error after a cancel request: cancelled, the error recorded.
//   - any other error (timeouts, panics and unknown kinds included):
//     retryable at now+backoff(attempt), or discarded once Attempt has
//     reached MaxAttempts; the error recorded.
func (a *attemptResult) decide() *store.JobSetStateParams {
	p := &store.JobSetStateParams{
		ID:      a.row.ID,
		Owner:   a.row.LeaseOwner,
		Attempt: a.row.Attempt,
		Now:     a.now,
		RunAt:   a.now,
	}
	if a.err == nil {
		p.State, p.Result = store.StateCompleted, a.result
		return p
	}
	var snooze *snoozeError
	if errors.As(a.err, &snooze) {
		p.State, p.UndoAttempt = store.StateAvailable, true
		if snooze.after > 0 {
			p.State, p.RunAt = store.StateScheduled, a.now.Add(snooze.after).Truncate(time.Microsecond)
		}
		return p
	}
	msg := a.err.Error()
	var cancel *cancelError
	var decode *decodeError
	switch {
	case errors.As(a.err, &cancel):
		p.State = store.StateCancelled
	case errors.As(a.err, &decode):
		p.State = store.StateDiscarded
	case errors.Is(a.cause, errWorkerShutdown):
		p.State, p.UndoAttempt = store.StateAvailable, true
		return p
	case errors.Is(a.cause, errCancelRequested):
		p.State = store.StateCancelled
		msg = "cancelled by request: " + msg
	default:
		if errors.Is(a.cause, errJobTimeout) {
			msg = fmt.Sprintf("job timed out after %s: %s", a.timeout, msg)
		}
		p.State = store.StateDiscarded
		if a.row.Attempt < a.row.MaxAttempts {
			p.State, p.RunAt = store.StateRetryable, a.now.Add(a.backoff(a.row.Attempt)).Truncate(time.Microsecond)
		}
	}
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen] + "... (truncated)"
	}
	p.Error = &store.AttemptError{Attempt: a.row.Attempt, At: a.now, Error: msg}
	return p
}

// contextCause is why ctx ended, or nil if it has not.
func contextCause(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return context.Cause(ctx)
}
