package boiler

import "time"

// EnqueueOptions are a job's options. The zero value of each field means its
// default.
type EnqueueOptions struct {
	// Queue is the queue the job goes to. Default "default".
	Queue string
	// Priority orders jobs within a queue: higher runs first. Default 0;
	// negative values run after the default.
	Priority int
	// RunAt schedules the job: it runs no earlier than RunAt. Zero: now.
	RunAt time.Time
	// RunIn schedules the job RunIn from now. Ignored when RunAt is set.
	RunIn time.Duration
	// MaxAttempts is how many times the job may run before it is
	// discarded. Default 25 (with the default backoff, about three weeks).
	MaxAttempts int
	// Timeout bounds each attempt: the handler's context is cancelled
	// after it. Zero: the worker's JobTimeout.
	Timeout time.Duration
	// UniqueKey makes the job unique: while a job with the same key is
	// live, Enqueue returns that job (with Duplicate set) instead of
	// inserting a new one.
	UniqueKey string
	// UniqueFor is how long the key is held from enqueue, whatever the
	// job's state. Zero: the key is held until the job is finalized
	// (completed, discarded or cancelled).
	UniqueFor time.Duration
}
