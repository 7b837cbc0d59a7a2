// Package builtin holds the job kinds every boiler binary knows: noop,
// sleep and fail. The benchmark, the demo and smoke tests use them, so a
// queue can be exercised end to end without writing a handler.
//
//	boiler enqueue noop '{"i": 1}'
//	boiler enqueue sleep '{"ms": 250}'
//	boiler enqueue fail '{"times": 2}' --max-attempts 3
package builtin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/doubleboiler/boiler"
)

// The built-in job kinds.
const (
	KindNoop  = "noop"
	KindSleep = "sleep"
	KindFail  = "fail"
)

// NoopArgs are the args of a job that does nothing.
type NoopArgs struct {
	// I is a free number (the benchmark numbers its jobs with it).
	I int `json:"i"`
}

// Kind returns "noop".
func (NoopArgs) Kind() string { return KindNoop }

// SleepArgs are the args of a job that sleeps, an I/O-bound job's stand-in.
type SleepArgs struct {
	// MS is how long the job sleeps, in milliseconds. It must not be
	// negative. The sleep ends early, failing the attempt, when the job's
	// context is cancelled (timeout, shutdown, cancellation).
	MS int `json:"ms"`
}

// Kind returns "sleep".
func (SleepArgs) Kind() string { return KindSleep }

// FailArgs are the args of a job that fails its first attempts, to watch
// retries and discards.
type FailArgs struct {
	// Times is how many attempts fail: attempts 1 to Times return an
	// error, later attempts succeed. It must not be negative. With
	// MaxAttempts <= Times the job is discarded.
	Times int `json:"times"`
}

// Kind returns "fail".
func (FailArgs) Kind() string { return KindFail }

// Options configure [Register]. The zero value is ready to use.
type Options struct {
	// OnStart, when set, is called as each built-in job starts, with the
	// job's row and the start time read from Clock. It runs on the job's
	// goroutine, so it must be quick and safe for concurrent use. The
	// benchmark measures enqueue-to-start latency with it (start minus
	// the job's RunAt). Default nil: nothing is called.
	OnStart func(job *boiler.JobRow, start time.Time)
	// Clock returns the current time for OnStart. Default time.Now.
	Clock func() time.Time
}

// withDefaults returns o with its zero fields filled.
func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Clock == nil {
		out.Clock = time.Now
	}
	return out
}

// Kinds returns the built-in kinds, sorted.
func Kinds() []string { return []string{KindFail, KindNoop, KindSleep} }

// IsBuiltin reports whether kind is a built-in kind.
func IsBuiltin(kind string) bool { return slices.Contains(Kinds(), kind) }

// Register adds the built-in handlers to r. opts may be nil. Like
// boiler.Handle, it panics if one of the kinds is already registered.
func Register(r *boiler.Registry, opts *Options) {
	h := handlers{opts: opts.withDefaults()}
	boiler.Handle(r, h.noop)
	boiler.Handle(r, h.sleep)
	boiler.Handle(r, h.fail)
}

// handlers are the built-in handlers sharing their options.
type handlers struct{ opts Options }

// started reports a job's start to OnStart.
func (h handlers) started(row *boiler.JobRow) {
	if h.opts.OnStart != nil {
		h.opts.OnStart(row, h.opts.Clock())
	}
}

func (h handlers) noop(_ context.Context, job *boiler.Job[NoopArgs]) error {
	h.started(job.JobRow)
	return nil
}

func (h handlers) sleep(ctx context.Context, job *boiler.Job[SleepArgs]) error {
	h.started(job.JobRow)
	if job.Args.MS < 0 {
		return boiler.Cancel(fmt.Errorf("sleep: ms must not be negative, got %d", job.Args.MS))
	}
	t := time.NewTimer(time.Duration(job.Args.MS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sleep interrupted: %w", context.Cause(ctx))
	}
}

// errPlanned is the error of a fail job's planned failures.
var errPlanned = errors.New("planned failure")

func (h handlers) fail(_ context.Context, job *boiler.Job[FailArgs]) error {
	h.started(job.JobRow)
	if job.Args.Times < 0 {
		return boiler.Cancel(fmt.Errorf("fail: times must not be negative, got %d", job.Args.Times))
	}
	if job.Attempt <= job.Args.Times {
		return fmt.Errorf("fail: attempt %d of %d planned failures: %w", job.Attempt, job.Args.Times, errPlanned)
	}
	return nil
}
