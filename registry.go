package boiler

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// Registry maps job kinds to their handlers. Build one with [NewRegistry],
// add handlers with [Handle], and give it to a [Worker] (or an inline
// [Client]). It is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]runFunc
}

// runFunc decodes a job's args and runs its handler; it returns the
// handler's result as JSON (nil when it returns none).
type runFunc func(ctx context.Context, row *JobRow) (json.RawMessage, error)

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: make(map[string]runFunc)}
}

// Handle registers fn as the handler of jobs of kind T.Kind(), called on T's
// zero value.
//
// Before fn runs, the job's args are decoded from JSON into a T. Args that
// do not decode cannot decode on a later attempt either, so such a job is
// discarded at once, with an error naming the kind and the JSON error.
//
// Handle panics if the kind is empty, is already registered, or fn is nil:
// these are programming errors, found at start-up.
func Handle[T JobArgs](r *Registry, fn HandlerFunc[T]) {
	var zero T
	kind := zero.Kind()
	r.add("boiler.Handle", kind, zero, fn == nil, func(ctx context.Context, row *JobRow) (json.RawMessage, error) {
		var args T
		if err := json.Unmarshal(row.Args, &args); err != nil {
			return nil, &decodeError{kind: kind, err: err}
		}
		return nil, fn(ctx, &Job[T]{JobRow: row, Args: args})
	})
}

// add registers run as the handler of kind, or panics (naming caller and
// the args' type, zero's) if kind is invalid or taken or the handler is
// nil.
func (r *Registry) add(caller, kind string, zero any, nilFn bool, run runFunc) {
	if err := validateKind(kind); err != nil {
		panic(fmt.Sprintf("%s: %v (args type %T)", caller, err, zero))
	}
	if nilFn {
		panic(fmt.Sprintf("%s: nil handler for job kind %q", caller, kind))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[kind]; dup {
		panic(fmt.Sprintf("%s: job kind %q is already registered", caller, kind))
	}
	r.handlers[kind] = run
}

// Kinds returns the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// lookup returns the handler of kind, or an error listing the known kinds.
// A job of an unknown kind is retried like any failure: another deployment
// sharing the store (a newer release mid-deploy) may know it.
func (r *Registry) lookup(kind string) (runFunc, error) {
	r.mu.RLock()
	run, ok := r.handlers[kind]
	r.mu.RUnlock()
	if !ok {
		known := strings.Join(r.Kinds(), ", ")
		if known == "" {
			known = "none"
		}
		return nil, fmt.Errorf("unknown job kind %q (registered: %s)", kind, known)
	}
	return run, nil
}

// run runs row's handler under ctx and returns its result (JSON, nil for
// none). A handler's panic is recovered and returned as an error carrying
// the panic value and the stack. The handler's context gives [RecordResult]
// and [DepResults] their job; deps is where DepResults reads from.
func (r *Registry) run(ctx context.Context, row *JobRow, deps depsReader) (result json.RawMessage, err error) {
	run, err := r.lookup(row.Kind)
	if err != nil {
		return nil, err
	}
	actx := &attemptCtx{Context: ctx, a: attempt{row: row, deps: deps}}
	a := &actx.a
	defer func() {
		if v := recover(); v != nil {
			result, err = nil, &panicError{value: v, stack: debug.Stack()}
		}
	}()
	result, err = run(actx, row)
	if err != nil {
		return nil, err
	}
	recorded, recordErr := a.recorded()
	if recordErr != nil {
		return nil, recordErr
	}
	if result == nil {
		result = recorded
	}
	return result, nil
}
