package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/doubleboiler/boiler/store"
)

// HandlerResultFunc runs one job of kind T.Kind() and returns its result.
// Returning a nil error completes the job and stores the result, encoded
// as JSON, with it; an error is handled as for [HandlerFunc] and the
// result is dropped.
type HandlerResultFunc[T JobArgs, R any] func(ctx context.Context, job *Job[T]) (R, error)

// HandleResult registers fn as the handler of jobs of kind T.Kind(), like
// [Handle], for a handler that returns a result.
//
// When fn succeeds, its result is encoded as JSON and stored with the job
// (store.Job.Result) for the job's retention period: the jobs that wait
// for it in a workflow read it with [DepResults], and the API and the
// dashboard show it. A result that does not encode fails the attempt (it
// is retried like any error), with an error naming the kind.
func HandleResult[T JobArgs, R any](r *Registry, fn HandlerResultFunc[T, R]) {
	var zero T
	kind := zero.Kind()
	r.add("boiler.HandleResult", kind, zero, fn == nil, func(ctx context.Context, row *JobRow) (json.RawMessage, error) {
		var args T
		if err := json.Unmarshal(row.Args, &args); err != nil {
			return nil, &decodeError{kind: kind, err: err}
		}
		res, err := fn(ctx, &Job[T]{JobRow: row, Args: args})
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(res)
		if err != nil {
			return nil, fmt.Errorf("encoding the result of job kind %q: %w", kind, err)
		}
		return b, nil
	})
}

// RecordResult sets the result of the job whose handler's context is ctx,
// for handlers registered with [Handle]: v is encoded as JSON at once and
// stored with the job if the attempt succeeds (a later call replaces an
// earlier one; a result returned by a [HandleResult] handler replaces
// both). A value that does not encode is returned as an error, and the
// attempt then fails with it even if the handler returns nil. Outside a
// job's context RecordResult returns an error.
func RecordResult(ctx context.Context, v any) error {
	a := attemptOf(ctx)
	if a == nil {
		return errNotJobContext("RecordResult")
	}
	b, err := json.Marshal(v)
	if err != nil {
		err = fmt.Errorf("encoding the result of job %d (%s): %w", a.row.ID, a.row.Kind, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.result, a.resultErr = b, err
	return err
}

// DepResult is how one job a job waited for ended: one entry of
// [DepResults].
type DepResult struct {
	// ID and Kind are the dependency's.
	ID   int64  `json:"id"`
	Kind string `json:"kind"`
	// State is its state: completed, or, for a job with RunOnFailure,
	// discarded or cancelled. Empty when Missing.
	State store.State `json:"state"`
	// Result is what its handler returned (nil when it returned none or
	// did not complete).
	Result json.RawMessage `json:"result,omitempty"`
	// Error is its last attempt's error, when it did not complete.
	Error string `json:"error,omitempty"`
	// Missing reports that the dependency no longer exists: it was deleted
	// (past its retention, or by a person) before this job read it.
	Missing bool `json:"missing,omitempty"`
}

// Decode decodes the dependency's result into v. A dependency without a
// result (failed, missing, or a handler that returned none) is an error
// naming it.
func (d *DepResult) Decode(v any) error {
	if len(d.Result) == 0 {
		switch {
		case d.Missing:
			return fmt.Errorf("job %d has no result: it was deleted", d.ID)
		case d.State != store.StateCompleted:
			return fmt.Errorf("job %d (%s) has no result: it is %s: %s", d.ID, d.Kind, d.State, d.Error)
		}
		return fmt.Errorf("job %d (%s) has no result: its handler recorded none", d.ID, d.Kind)
	}
	if err := json.Unmarshal(d.Result, v); err != nil {
		return fmt.Errorf("decoding the result of job %d (%s): %w", d.ID, d.Kind, err)
	}
	return nil
}

// depsReadBatch bounds the IDs of one JobGetMany call of DepResults.
const depsReadBatch = 1000

// DepResults returns, for the job whose handler's context is ctx, how each
// job it waited for ended (its Deps, in their order): a chord's callback
// reads its members' results with it. A job without dependencies gets an
// empty list. Outside a job's context it returns an error.
//
// Without RunOnFailure a job only runs once every dependency completed;
// with it, failed dependencies appear with their State and Error.
func DepResults(ctx context.Context) ([]DepResult, error) {
	a := attemptOf(ctx)
	if a == nil {
		return nil, errNotJobContext("DepResults")
	}
	deps := a.row.Deps
	if len(deps) == 0 {
		return []DepResult{}, nil
	}
	if a.deps == nil {
		return nil, fmt.Errorf("reading the dependencies of job %d: no store to read them from", a.row.ID)
	}
	found := make(map[int64]*JobRow, len(deps))
	for start := 0; start < len(deps); start += depsReadBatch {
		ids := deps[start:min(start+depsReadBatch, len(deps))]
		jobs, err := a.deps.JobGetMany(ctx, ids)
		if err != nil {
			return nil, fmt.Errorf("reading the %d dependencies of job %d: %w", len(deps), a.row.ID, err)
		}
		for _, j := range jobs {
			found[j.ID] = j
		}
	}
	out := make([]DepResult, len(deps))
	for i, id := range deps {
		j, ok := found[id]
		if !ok {
			out[i] = DepResult{ID: id, Missing: true}
			continue
		}
		out[i] = DepResult{ID: id, Kind: j.Kind, State: j.State}
		if j.State == store.StateCompleted {
			out[i].Result = j.Result
		} else if n := len(j.Errors); n > 0 {
			out[i].Error = j.Errors[n-1].Error
		}
	}
	return out, nil
}

// depsReader reads the jobs a job waited for: the store for a worker, the
// jobs already run for an inline client.
type depsReader interface {
	JobGetMany(ctx context.Context, ids []int64) ([]*store.Job, error)
}

// attempt is one run of a handler, reachable from its context: its row,
// where to read its dependencies, and the result it recorded.
type attempt struct {
	row  *JobRow
	deps depsReader

	mu        sync.Mutex // RecordResult may be called from the handler's goroutines
	result    json.RawMessage
	resultErr error
}

// recorded returns what RecordResult recorded.
func (a *attempt) recorded() (json.RawMessage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.result, a.resultErr
}

type attemptKey struct{}

// attemptCtx is a handler's context: its parent with the attempt as the
// value of attemptKey (one allocation per job instead of two with
// context.WithValue).
type attemptCtx struct {
	context.Context
	a attempt
}

// Value returns the attempt for attemptKey, else the parent's value.
func (c *attemptCtx) Value(key any) any {
	if _, ok := key.(attemptKey); ok {
		return &c.a
	}
	return c.Context.Value(key)
}

// attemptOf returns the attempt whose handler's context is ctx, or nil.
func attemptOf(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

func errNotJobContext(fn string) error {
	return errors.New("boiler." + fn + ": ctx is not a job handler's context (pass the ctx the handler received)")
}
