package boiler

import (
	"cmp"
	"errors"
	"fmt"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// Defaults of EnqueueOptions.
const (
	// DefaultQueue is the queue of a job enqueued without one.
	DefaultQueue = "default"
	// DefaultMaxAttempts is the MaxAttempts of a job enqueued without one.
	DefaultMaxAttempts = 25
)

// maxKindLen bounds a job kind's length.
const maxKindLen = 255

// EnqueueOptions are a job's options. The zero value of each field means its
// default.
//
// Options come from three places, each overriding the previous field by
// field: the defaults, the args' EnqueueOptions method (see
// [JobArgsWithOptions]), and the options passed to Enqueue. RunAt and RunIn
// count as one field: options that set either replace both.
type EnqueueOptions struct {
	// Queue is the queue the job goes to: letters, digits, '_', '-' and
	// '.', at most 100 characters. Default "default".
	Queue string
	// Priority orders jobs within a queue: higher runs first. Default 0;
	// negative values run after the default.
	Priority int
	// RunAt schedules the job: it runs no earlier than RunAt. Zero: now.
	RunAt time.Time
	// RunIn schedules the job RunIn from now. Ignored when RunAt is set.
	// Must not be negative.
	RunIn time.Duration
	// MaxAttempts is how many times the job may run before it is
	// discarded. Default 25 (with the default backoff, about three weeks).
	// Must not be negative.
	MaxAttempts int
	// Timeout bounds each attempt: the handler's context is cancelled
	// after it. Zero: the worker's JobTimeout. Must not be negative.
	Timeout time.Duration
	// UniqueKey makes the job unique: while a job with the same key is
	// live, Enqueue returns that job (with Duplicate set) instead of
	// inserting a new one.
	UniqueKey string
	// UniqueFor is how long the key is held from enqueue, whatever the
	// job's state. Zero: the key is held until the job is finalized
	// (completed, discarded or cancelled). Requires UniqueKey.
	UniqueFor time.Duration
}

// merge returns o with every non-zero field of over applied on top.
func (o EnqueueOptions) merge(over *EnqueueOptions) EnqueueOptions {
	if over == nil {
		return o
	}
	if over.Queue != "" {
		o.Queue = over.Queue
	}
	if over.Priority != 0 {
		o.Priority = over.Priority
	}
	if !over.RunAt.IsZero() || over.RunIn != 0 {
		o.RunAt, o.RunIn = over.RunAt, over.RunIn
	}
	if over.MaxAttempts != 0 {
		o.MaxAttempts = over.MaxAttempts
	}
	if over.Timeout != 0 {
		o.Timeout = over.Timeout
	}
	if over.UniqueKey != "" {
		o.UniqueKey = over.UniqueKey
	}
	if over.UniqueFor != 0 {
		o.UniqueFor = over.UniqueFor
	}
	return o
}

// insertParams validates o and turns it into a store row for a job of
// kind with args (valid JSON), at now.
func (o EnqueueOptions) insertParams(kind string, args []byte, now time.Time) (*store.JobInsertParams, error) {
	if err := validateKind(kind); err != nil {
		return nil, err
	}
	o.Queue = cmp.Or(o.Queue, DefaultQueue)
	o.MaxAttempts = cmp.Or(o.MaxAttempts, DefaultMaxAttempts)
	if err := validateQueueName(o.Queue); err != nil {
		return nil, fmt.Errorf("Queue: %w", err)
	}
	switch {
	case o.MaxAttempts < 0:
		return nil, fmt.Errorf("MaxAttempts must not be negative, got %d", o.MaxAttempts)
	case o.RunIn < 0:
		return nil, fmt.Errorf("RunIn must not be negative, got %s", o.RunIn)
	case o.Timeout < 0:
		return nil, fmt.Errorf("Timeout must not be negative, got %s", o.Timeout)
	case o.UniqueFor < 0:
		return nil, fmt.Errorf("UniqueFor must not be negative, got %s", o.UniqueFor)
	case o.UniqueFor > 0 && o.UniqueKey == "":
		return nil, errors.New("UniqueFor is set but UniqueKey is empty")
	}
	p := &store.JobInsertParams{
		Kind:        kind,
		Queue:       o.Queue,
		Priority:    o.Priority,
		Args:        args,
		MaxAttempts: o.MaxAttempts,
		Timeout:     o.Timeout,
		RunAt:       now,
		UniqueKey:   o.UniqueKey,
	}
	switch {
	case !o.RunAt.IsZero():
		p.RunAt = o.RunAt.UTC().Truncate(time.Microsecond)
	case o.RunIn > 0:
		p.RunAt = now.Add(o.RunIn)
	}
	if o.UniqueFor > 0 {
		p.UniqueUntil = now.Add(o.UniqueFor)
	}
	return p, nil
}

func validateKind(kind string) error {
	switch {
	case kind == "":
		return errors.New("job kind is empty")
	case len(kind) > maxKindLen:
		return fmt.Errorf("job kind is %d bytes long, more than %d", len(kind), maxKindLen)
	}
	return nil
}
