package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRegistryKindsAndLookup(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	Handle(r, func(context.Context, *Job[emailArgs]) error { return nil })
	Handle(r, func(context.Context, *Job[noopArgs]) error { return nil })
	if got := r.Kinds(); !reflect.DeepEqual(got, []string{"email", "noop"}) {
		t.Fatalf("Kinds() = %v", got)
	}
	_, err := r.run(context.Background(), &JobRow{Kind: "mystery", Args: json.RawMessage(`{}`)}, nil)
	if err == nil || err.Error() != `unknown job kind "mystery" (registered: email, noop)` {
		t.Fatalf("unknown kind error = %v", err)
	}
	_, err = NewRegistry().run(context.Background(), &JobRow{Kind: "x"}, nil)
	if err == nil || err.Error() != `unknown job kind "x" (registered: none)` {
		t.Fatalf("unknown kind in an empty registry: %v", err)
	}
}

func TestRegistryDecode(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	var got *Job[emailArgs]
	Handle(r, func(_ context.Context, job *Job[emailArgs]) error { got = job; return nil })

	row := &JobRow{ID: 7, Kind: "email", Attempt: 2, Queue: "mail", Args: json.RawMessage(`{"to":"ada@example.com"}`)}
	if _, err := r.run(context.Background(), row, nil); err != nil {
		t.Fatal(err)
	}
	if got.Args.To != "ada@example.com" || got.ID != 7 || got.Attempt != 2 || got.Queue != "mail" {
		t.Fatalf("handler got %+v with args %+v", got.JobRow, got.Args)
	}

	for _, args := range []string{`{"to": 5}`, `not json`, `[1,2]`} {
		_, err := r.run(context.Background(), &JobRow{Kind: "email", Args: json.RawMessage(args)}, nil)
		var de *decodeError
		if !errors.As(err, &de) || !strings.HasPrefix(err.Error(), `decoding args of job kind "email": `) {
			t.Errorf("args %s: error = %v, want a decode error naming the kind", args, err)
		}
		var jsonErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		if !errors.As(err, &jsonErr) && !errors.As(err, &syntaxErr) {
			t.Errorf("args %s: the JSON error is not wrapped: %v", args, err)
		}
	}
}

func TestRegistryRecoversPanics(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	Handle(r, func(context.Context, *Job[noopArgs]) error { panic("kaboom") })
	_, err := r.run(context.Background(), &JobRow{Kind: "noop", Args: json.RawMessage(`{}`)}, nil)
	var pe *panicError
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "panic: kaboom\n") || !strings.Contains(err.Error(), "registry_test.go") {
		t.Fatalf("panic error = %v, want the value and the stack", err)
	}
}

func TestHandlePanicsOnProgrammingErrors(t *testing.T) {
	t.Parallel()
	mustPanic := func(name, want string, fn func()) {
		t.Helper()
		defer func() {
			v := recover()
			if s, _ := v.(string); !strings.Contains(s, want) {
				t.Errorf("%s: panic %v, want it to contain %q", name, v, want)
			}
		}()
		fn()
	}
	r := NewRegistry()
	Handle(r, func(context.Context, *Job[emailArgs]) error { return nil })
	mustPanic("duplicate", `job kind "email" is already registered`, func() {
		Handle(r, func(context.Context, *Job[emailArgs]) error { return nil })
	})
	mustPanic("nil handler", `nil handler for job kind "noop"`, func() { Handle[noopArgs](r, nil) })
	mustPanic("empty kind", "job kind is empty", func() {
		Handle(r, func(context.Context, *Job[emptyKindArgs]) error { return nil })
	})
}

type emptyKindArgs struct{}

func (emptyKindArgs) Kind() string { return "" }
