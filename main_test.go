package boiler

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

func TestMain(m *testing.M) {
	// The nothing-lost tests re-run this binary as a worker process.
	if mode := os.Getenv(childModeEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m)
}

// testBundle is what most tests need: a fresh SQLite store, a client on it
// and an empty registry.
type testBundle struct {
	store  *sqlite.Store
	client *Client
	reg    *Registry
	path   string
}

// setup opens a store in a temp dir with its schema.
func setup(t testing.TB) *testBundle {
	t.Helper()
	path := filepath.Join(t.TempDir(), "boiler.db")
	s := openStore(t, path)
	c, err := NewClient(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{store: s, client: c, reg: NewRegistry(), path: path}
}

func openStore(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// quietLogger drops logs below warn unless -v, so failures show the
// worker's own story.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// startWorker starts a worker with fast test timings (overridable in
// opts) and stops it when the test ends.
func (b *testBundle) startWorker(t testing.TB, opts *WorkerOptions) *Worker {
	t.Helper()
	o := WorkerOptions{}
	if opts != nil {
		o = *opts
	}
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	w, err := NewWorker(b.store, b.reg, &o)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop(context.Background()) })
	return w
}

// waitJob polls the job until cond holds, and returns it.
func (b *testBundle) waitJob(t testing.TB, id int64, what string, cond func(*JobRow) bool) *JobRow {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		job, err := b.client.JobGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(job) {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d: waited 15s for %s; job is %s at attempt %d, errors %v", id, what, job.State, job.Attempt, job.Errors)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitState waits for the job to reach state.
func (b *testBundle) waitState(t testing.TB, id int64, state store.State) *JobRow {
	t.Helper()
	return b.waitJob(t, id, "state "+string(state), func(j *JobRow) bool { return j.State == state })
}

// waitFor polls cond for up to 15 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Job kinds used across the tests.

type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "noop" }

type emailArgs struct {
	To string `json:"to"`
}

func (emailArgs) Kind() string { return "email" }

// errArgs fails as its handler decides.
type errArgs struct{}

func (errArgs) Kind() string { return "err" }
