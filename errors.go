package boiler

import (
	"errors"
	"fmt"
	"time"
)

// Snooze returns an error that, returned by a handler (possibly wrapped),
// puts the job back to run again after d. A snooze is not an attempt: the
// job's Attempt is restored, no error is recorded, and a job may snooze any
// number of times. A d of zero or less makes the job available at once.
//
// Use it for work that is not ready yet (a resource still being prepared,
// a rate limit with a known reset time).
func Snooze(d time.Duration) error {
	return &snoozeError{after: max(d, 0)}
}

// Cancel returns an error that, returned by a handler (possibly wrapped),
// cancels the job: it is not retried, its state becomes cancelled and err
// (which may be nil) is recorded as the attempt's error.
//
// Use it for a permanent failure that retrying cannot fix (the account was
// deleted, the input is invalid).
func Cancel(err error) error {
	return &cancelError{err: err}
}

type snoozeError struct{ after time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("job snoozed for %s", e.after) }

type cancelError struct{ err error }

func (e *cancelError) Error() string {
	if e.err == nil {
		return "job cancelled by its handler"
	}
	return "job cancelled by its handler: " + e.err.Error()
}

func (e *cancelError) Unwrap() error { return e.err }

// decodeError is a job whose args cannot be decoded into the handler's
// type. Decoding the same bytes again cannot succeed, so the job is
// discarded at once instead of retried.
type decodeError struct {
	kind string
	err  error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("decoding args of job kind %q: %v", e.kind, e.err)
}

func (e *decodeError) Unwrap() error { return e.err }

// panicError is a handler's recovered panic, with its stack.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("panic: %v\n\n%s", e.value, e.stack)
}

// Causes of a job context's cancellation, told apart by context.Cause.
var (
	errJobTimeout       = errors.New("job timed out")
	errCancelRequested  = errors.New("job cancelled by request")
	errWorkerShutdown   = errors.New("worker shutting down")
	errInlineClientNoDB = errors.New("the inline client has no store")
)
