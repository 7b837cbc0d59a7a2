package builtin_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// bundle is one test's store, client and running worker.
type bundle struct {
	client *boiler.Client
	// starts records OnStart's calls.
	mu     sync.Mutex
	starts []start
}

type start struct {
	job *boiler.JobRow
	at  time.Time
}

// setup opens a fresh SQLite store, registers the built-in kinds and
// starts a worker that retries at once; everything stops at the test's
// end.
func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "jobs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	b := &bundle{}
	reg := boiler.NewRegistry()
	builtin.Register(reg, &builtin.Options{OnStart: func(job *boiler.JobRow, at time.Time) {
		b.mu.Lock()
		b.starts = append(b.starts, start{job: job, at: at})
		b.mu.Unlock()
	}})
	w, err := boiler.NewWorker(s, reg, &boiler.WorkerOptions{
		Concurrency:  4,
		PollInterval: 10 * time.Millisecond,
		Backoff:      func(int) time.Duration { return time.Millisecond },
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Stop(ctx); err != nil {
			t.Errorf("stopping the worker: %v", err)
		}
	})
	if b.client, err = boiler.NewClient(s, nil); err != nil {
		t.Fatal(err)
	}
	return b
}

// enqueue adds a raw job and returns its id.
func (b *bundle) enqueue(t *testing.T, kind, args string, opts *boiler.EnqueueOptions) int64 {
	t.Helper()
	res, err := b.client.EnqueueRaw(context.Background(), kind, json.RawMessage(args), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job.ID
}

// waitFinal waits until job id is finalized and returns it.
func (b *bundle) waitFinal(t *testing.T, id int64) *boiler.JobRow {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		job, err := b.client.JobGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if job.State.Finalized() {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is still %s after 20s", id, job.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startsOf returns the recorded starts of job id.
func (b *bundle) startsOf(id int64) []start {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []start
	for _, s := range b.starts {
		if s.job.ID == id {
			out = append(out, s)
		}
	}
	return out
}

func TestNoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.enqueue(t, builtin.KindNoop, `{"i": 7}`, nil)
	job := b.waitFinal(t, id)
	if job.State != store.StateCompleted || job.Attempt != 1 {
		t.Fatalf("noop job is %s after %d attempts, want completed after 1", job.State, job.Attempt)
	}
	starts := b.startsOf(id)
	if len(starts) != 1 {
		t.Fatalf("OnStart was called %d times for the job, want 1", len(starts))
	}
	if got := starts[0]; got.at.Before(got.job.RunAt) || got.job.Attempt != 1 || string(got.job.Args) != `{"i":7}` {
		t.Fatalf("OnStart got job %+v at %s; want attempt 1, args {\"i\":7}, a start after RunAt", got.job, got.at)
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.enqueue(t, builtin.KindSleep, `{"ms": 60}`, nil)
	job := b.waitFinal(t, id)
	if job.State != store.StateCompleted {
		t.Fatalf("sleep job is %s (errors %v), want completed", job.State, job.Errors)
	}
	if ran := job.FinalizedAt.Sub(job.AttemptedAt); ran < 60*time.Millisecond {
		t.Fatalf("sleep job ran %s, want at least its 60ms", ran)
	}
}

func TestSleepTimesOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.enqueue(t, builtin.KindSleep, `{"ms": 60000}`, &boiler.EnqueueOptions{MaxAttempts: 1, Timeout: 50 * time.Millisecond})
	job := b.waitFinal(t, id)
	if job.State != store.StateDiscarded || len(job.Errors) != 1 || !strings.Contains(job.Errors[0].Error, "sleep interrupted") {
		t.Fatalf("sleep job past its timeout is %s with errors %v, want discarded after \"sleep interrupted\"", job.State, job.Errors)
	}
}

func TestSleepNegativeIsCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.enqueue(t, builtin.KindSleep, `{"ms": -1}`, nil)
	job := b.waitFinal(t, id)
	if job.State != store.StateCancelled || job.Attempt != 1 {
		t.Fatalf("sleep -1 is %s after %d attempts, want cancelled after 1", job.State, job.Attempt)
	}
}

func TestFailThenSucceed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.enqueue(t, builtin.KindFail, `{"times": 2}`, &boiler.EnqueueOptions{MaxAttempts: 5})
	job := b.waitFinal(t, id)
	if job.State != store.StateCompleted || job.Attempt != 3 {
		t.Fatalf("fail times=2 is %s after %d attempts, want completed after 3", job.State, job.Attempt)
	}
	if len(job.Errors) != 2 || !strings.Contains(job.Errors[1].Error, "attempt 2 of 2 planned failures") {
		t.Fatalf("fail times=2 errors = %+v, want the 2 planned failures", job.Errors)
	}
	if n := len(b.startsOf(id)); n != 3 {
		t.Fatalf("OnStart was called %d times, want once per attempt (3)", n)
	}
}

func TestFailDiscardedWhenOutOfAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := b.enqueue(t, builtin.KindFail, `{"times": 3}`, &boiler.EnqueueOptions{MaxAttempts: 2})
	job := b.waitFinal(t, id)
	if job.State != store.StateDiscarded || job.Attempt != 2 || len(job.Errors) != 2 {
		t.Fatalf("fail times=3 with 2 attempts is %s after %d attempts (%d errors), want discarded after 2",
			job.State, job.Attempt, len(job.Errors))
	}
}

func TestKinds(t *testing.T) {
	t.Parallel()
	reg := boiler.NewRegistry()
	builtin.Register(reg, nil)
	if got := reg.Kinds(); !slices.Equal(got, builtin.Kinds()) {
		t.Fatalf("Register added %v, Kinds says %v", got, builtin.Kinds())
	}
	for _, k := range builtin.Kinds() {
		if !builtin.IsBuiltin(k) {
			t.Errorf("IsBuiltin(%q) = false", k)
		}
	}
	if builtin.IsBuiltin("email") {
		t.Error(`IsBuiltin("email") = true`)
	}
}

func TestArgsKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args boiler.JobArgs
		want string
	}{
		{builtin.NoopArgs{}, builtin.KindNoop},
		{builtin.SleepArgs{}, builtin.KindSleep},
		{builtin.FailArgs{}, builtin.KindFail},
		{builtin.DoubleArgs{}, builtin.KindDouble},
		{builtin.SumArgs{}, builtin.KindSum},
	} {
		if got := tc.args.Kind(); got != tc.want {
			t.Errorf("%T.Kind() = %q, want %q", tc.args, got, tc.want)
		}
	}
	b, err := json.Marshal(builtin.SleepArgs{MS: 5})
	if err != nil || string(b) != `{"ms":5}` {
		t.Fatalf("SleepArgs encodes as %s (%v), want {\"ms\":5}", b, err)
	}
}

func TestDoubleAndSumChord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	members := make([]*boiler.Step, 10)
	want := int64(0)
	for i := range members {
		members[i] = boiler.Task(builtin.DoubleArgs{N: int64(i) - 3, MS: i % 2}, nil)
		want += 2 * (int64(i) - 3)
	}
	wf, err := b.client.EnqueueWorkflow(ctx, boiler.Chord(boiler.Group(members...), boiler.Task(builtin.SumArgs{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if job := b.waitFinal(t, wf.Jobs[0].ID); string(job.Result) != "-6" {
		t.Errorf("double of -3: result %s, want -6", job.Result)
	}
	job := b.waitFinal(t, wf.Jobs[len(members)].ID)
	var got builtin.SumResult
	if err := json.Unmarshal(job.Result, &got); err != nil || job.State != store.StateCompleted {
		t.Fatalf("sum: %s %s %v %+v", job.State, job.Result, err, job.Errors)
	}
	if got != (builtin.SumResult{Sum: want, Count: len(members)}) {
		t.Fatalf("sum result %+v, want sum %d of %d", got, want, len(members))
	}
}

func TestSumOnFailureCountsFailedMembers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	wf, err := b.client.EnqueueWorkflow(ctx, boiler.Chord(
		boiler.Group(
			boiler.Task(builtin.DoubleArgs{N: 4}, nil),
			boiler.Task(builtin.FailArgs{Times: 5}, &boiler.EnqueueOptions{MaxAttempts: 1}),
		),
		boiler.Task(builtin.SumArgs{}, nil).RunOnFailure(),
	))
	if err != nil {
		t.Fatal(err)
	}
	job := b.waitFinal(t, wf.Jobs[2].ID)
	if job.State != store.StateCompleted || string(job.Result) != `{"sum":8,"count":1,"failed":1}` {
		t.Fatalf("sum: %s %s %+v", job.State, job.Result, job.Errors)
	}
}

func TestSumRefusesResultsThatAreNotNumbers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wf, err := b.client.EnqueueWorkflow(context.Background(), boiler.Chain(
		boiler.Task(builtin.DoubleArgs{N: 1}, nil),
		boiler.Task(builtin.SumArgs{}, nil),
		boiler.Task(builtin.SumArgs{}, nil),
	))
	if err != nil {
		t.Fatal(err)
	}
	job := b.waitFinal(t, wf.Jobs[2].ID)
	if job.State != store.StateCancelled || len(job.Errors) != 1 || !strings.Contains(job.Errors[0].Error, "is not a whole number") {
		t.Fatalf("a sum of a sum: %s %+v", job.State, job.Errors)
	}
}
