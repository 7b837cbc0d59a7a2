// Package builtin holds the job kinds every boiler binary knows: noop,
// sleep and fail, and double and sum for workflows. The benchmark, the
// demo and smoke tests use them, so a queue can be exercised end to end
// without writing a handler.
//
//	boiler enqueue noop '{"i": 1}'
//	boiler enqueue sleep '{"ms": 250}'
//	boiler enqueue fail '{"times": 2}' --max-attempts 3
//	boiler enqueue double '{"n": 21}'   # result 42
//
// A chord of double jobs with a sum callback adds up their results (see
// POST /api/workflows).
package builtin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/store"
)

// The built-in job kinds.
const (
	KindNoop  = "noop"
	KindSleep = "sleep"
	KindFail  = "fail"
	// KindDouble returns twice its number: a workflow member with a
	// result.
	KindDouble = "double"
	// KindSum adds up the results of the jobs it waited for: a chord's
	// callback.
	KindSum = "sum"
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

// DoubleArgs are the args of a job whose result is 2*N (a JSON number).
type DoubleArgs struct {
	N int64 `json:"n"`
	// MS, when positive, makes the job sleep that many milliseconds
	// first, like a sleep job, so many of them spread over workers.
	MS int `json:"ms,omitempty"`
}

// Kind returns "double".
func (DoubleArgs) Kind() string { return KindDouble }

// SumArgs are the args of a job that adds up the results of the jobs it
// waited for (boiler.DepResults): each must be a JSON number. It has no
// fields.
type SumArgs struct{}

// Kind returns "sum".
func (SumArgs) Kind() string { return KindSum }

// SumResult is a sum job's result.
type SumResult struct {
	// Sum is the sum of the completed dependencies' results.
	Sum int64 `json:"sum"`
	// Count is how many results were added.
	Count int `json:"count"`
	// Failed is how many dependencies did not complete (discarded,
	// cancelled, or deleted before the sum ran): with RunOnFailure, a sum
	// runs anyway and adds up the others.
	Failed int `json:"failed"`
}

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
func Kinds() []string { return []string{KindDouble, KindFail, KindNoop, KindSleep, KindSum} }

// IsBuiltin reports whether kind is a built-in kind.
func IsBuiltin(kind string) bool { return slices.Contains(Kinds(), kind) }

// Register adds the built-in handlers to r. opts may be nil. Like
// boiler.Handle, it panics if one of the kinds is already registered.
func Register(r *boiler.Registry, opts *Options) {
	h := handlers{opts: opts.withDefaults()}
	boiler.Handle(r, h.noop)
	boiler.Handle(r, h.sleep)
	boiler.Handle(r, h.fail)
	boiler.HandleResult(r, h.double)
	boiler.HandleResult(r, h.sum)
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

func (h handlers) double(ctx context.Context, job *boiler.Job[DoubleArgs]) (int64, error) {
	h.started(job.JobRow)
	if job.Args.MS > 0 {
		t := time.NewTimer(time.Duration(job.Args.MS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return 0, fmt.Errorf("double: sleep interrupted: %w", context.Cause(ctx))
		}
	}
	return 2 * job.Args.N, nil
}

func (h handlers) sum(ctx context.Context, job *boiler.Job[SumArgs]) (*SumResult, error) {
	h.started(job.JobRow)
	deps, err := boiler.DepResults(ctx)
	if err != nil {
		return nil, fmt.Errorf("sum: %w", err)
	}
	res := &SumResult{}
	for _, d := range deps {
		if d.State != store.StateCompleted {
			res.Failed++
			continue
		}
		var n int64
		if err := d.Decode(&n); err != nil {
			return nil, boiler.Cancel(fmt.Errorf("sum: the result of job %d (%s) is not a whole number: %w", d.ID, d.Kind, err))
		}
		res.Sum += n
		res.Count++
	}
	return res, nil
}
