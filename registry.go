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

// runFunc decodes a job's args and runs its handler.
type runFunc func(ctx context.Context, row *JobRow) error

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
	if err := validateKind(kind); err != nil {
		panic(fmt.Sprintf("boiler.Handle: %v (args type %T)", err, zero))
	}
	if fn == nil {
		panic(fmt.Sprintf("boiler.Handle: nil handler for job kind %q", kind))
	}
	run := func(ctx context.Context, row *JobRow) error {
		var args T
		if err := json.Unmarshal(row.Args, &args); err != nil {
			return &decodeError{kind: kind, err: err}
		}
		return fn(ctx, &Job[T]{JobRow: row, Args: args})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[kind]; dup {
		panic(fmt.Sprintf("boiler.Handle: job kind %q is already registered", kind))
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

// run runs row's handler under ctx. A handler's panic is recovered and
// returned as an error carrying the panic value and the stack.
func (r *Registry) run(ctx context.Context, row *JobRow) (err error) {
	run, err := r.lookup(row.Kind)
	if err != nil {
		return err
	}
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return run(ctx, row)
}
