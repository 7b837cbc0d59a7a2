package boiler

import (
	"context"

	"github.com/doubleboiler/boiler/store"
)

// JobArgs is implemented by a job's arguments: a struct encoded as JSON,
// whose Kind names the handler that runs it.
type JobArgs interface {
	// Kind is the job's kind, unique per handler, stable across
	// deployments (it is stored with every job).
	Kind() string
}

// JobArgsWithOptions is implemented by args that carry default enqueue
// options (a queue, a priority, a unique key...). Options passed to
// Enqueue override them field by field.
type JobArgsWithOptions interface {
	JobArgs
	EnqueueOptions() EnqueueOptions
}

// JobRow is a job as the store keeps it: its id, kind, queue, attempt,
// timestamps and errors.
type JobRow = store.Job

// Job is what a handler receives: the job's row (ID, Attempt, Queue,
// EnqueuedAt...) and its decoded args.
type Job[T JobArgs] struct {
	*JobRow
	Args T
}

// HandlerFunc runs one job of kind T.Kind(). Returning nil completes the
// job; an error retries it with backoff until MaxAttempts, then discards
// it. See [Snooze] and [Cancel] for the other outcomes.
type HandlerFunc[T JobArgs] func(ctx context.Context, job *Job[T]) error
