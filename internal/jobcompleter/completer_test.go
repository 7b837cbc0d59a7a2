package jobcompleter

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// running returns a store holding n jobs leased to "w1".
func running(t *testing.T, n int) (*sqlite.Store, []*store.Job) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "c.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	params := make([]*store.JobInsertParams, n)
	for i := range params {
		params[i] = &store.JobInsertParams{Kind: "k", Queue: "default", Args: []byte(`{}`), MaxAttempts: 3, RunAt: now}
	}
	if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: params, Now: now}); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"default"}, Limit: n, Owner: "w1", Now: now, LeaseExpiresAt: now.Add(time.Hour)})
	if err != nil || len(jobs) != n {
		t.Fatalf("fetched %d jobs: %v", len(jobs), err)
	}
	return s, jobs
}

func completed(j *store.Job) *store.JobSetStateParams {
	return &store.JobSetStateParams{ID: j.ID, Owner: j.LeaseOwner, Attempt: j.Attempt, State: store.StateCompleted, Now: now}
}

// countingStore counts the store calls of a real store.
type countingStore struct {
	Store
	mu    sync.Mutex
	calls []int
}

func (c *countingStore) JobSetStateIfRunningMany(ctx context.Context, p []*store.JobSetStateParams) ([]bool, error) {
	c.mu.Lock()
	c.calls = append(c.calls, len(p))
	c.mu.Unlock()
	return c.Store.JobSetStateIfRunningMany(ctx, p)
}

func (c *countingStore) callSizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.calls...)
}

func waitState(t *testing.T, s *sqlite.Store, id int64, state store.State) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := s.JobGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is %s, want %s", id, j.State, state)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCompleterBatchesBySizeAndDelay(t *testing.T) {
	t.Parallel()
	s, jobs := running(t, 25)
	cs := &countingStore{Store: s}
	c, err := New(&Params{Store: cs, BatchSize: 10, FlushDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	for _, j := range jobs[:10] { // a full batch: flushed at once
		c.Add(completed(j))
	}
	waitState(t, s, jobs[9].ID, store.StateCompleted)
	// flushAll drains whatever arrives while it writes (those outcomes have
	// waited already), so the lone outcome must come after the flush loop
	// went back to waiting: Pending at 0, then a moment for the loop's
	// final empty check.
	for deadline := time.Now().Add(10 * time.Second); c.Pending() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d outcomes still pending after the full batch", c.Pending())
		}
	}
	time.Sleep(20 * time.Millisecond)
	c.Add(completed(jobs[10])) // a partial batch: flushed after the delay
	start := time.Now()
	waitState(t, s, jobs[10].ID, store.StateCompleted)
	if waited := time.Since(start); waited < 150*time.Millisecond {
		t.Fatalf("a lone outcome was recorded after %s, before the flush delay", waited)
	}
	sizes := cs.callSizes()
	if len(sizes) != 2 || sizes[0] != 10 || sizes[1] != 1 {
		t.Fatalf("store calls of sizes %v, want [10 1]", sizes)
	}
}

func TestCompleterStopFlushesAndDropsLateOutcomes(t *testing.T) {
	t.Parallel()
	s, jobs := running(t, 3)
	var logs bytes.Buffer
	c, _ := New(&Params{Store: s, FlushDelay: time.Hour, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_ = c.Start(context.Background())
	c.Add(completed(jobs[0]))
	c.AddNoWait(completed(jobs[1]))
	c.Stop()
	for _, j := range jobs[:2] {
		if got, _ := s.JobGet(context.Background(), j.ID); got.State != store.StateCompleted {
			t.Fatalf("job %d after Stop: %s, want completed by the final flush", j.ID, got.State)
		}
	}
	c.Add(completed(jobs[2])) // after Stop: dropped, logged, never blocks
	if got, _ := s.JobGet(context.Background(), jobs[2].ID); got.State != store.StateRunning {
		t.Fatalf("late outcome was recorded: %s", got.State)
	}
	if !strings.Contains(logs.String(), "after the completer stopped") {
		t.Fatalf("late outcome not logged: %s", logs.String())
	}
}

func TestCompleterLostLeaseIsAWarning(t *testing.T) {
	t.Parallel()
	s, jobs := running(t, 1)
	var logs bytes.Buffer
	c, _ := New(&Params{Store: s, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	_ = c.Start(context.Background())
	p := completed(jobs[0])
	p.Owner = "someone-else" // as if the job had been rescued and fetched again
	c.Add(p)
	c.Stop()
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "lease lost") || strings.Contains(out, "level=ERROR") {
		t.Fatalf("want one warning about a lost lease, got:\n%s", out)
	}
}

// TestCompleterBackpressure: Add blocks while MaxPending outcomes wait,
// and resumes once they are recorded.
func TestCompleterBackpressure(t *testing.T) {
	t.Parallel()
	s, jobs := running(t, 3)
	gate := make(chan struct{})
	c, _ := New(&Params{Store: &gatedStore{Store: s, gate: gate}, BatchSize: 1, MaxPending: 2})
	_ = c.Start(context.Background())
	defer c.Stop()
	c.Add(completed(jobs[0]))
	c.Add(completed(jobs[1]))
	added := make(chan struct{})
	go func() { c.Add(completed(jobs[2])); close(added) }()
	select {
	case <-added:
		t.Fatal("Add did not block with MaxPending outcomes waiting")
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	select {
	case <-added:
	case <-time.After(10 * time.Second):
		t.Fatal("Add stayed blocked after the store answered")
	}
}

// gatedStore holds every call until gate is closed.
type gatedStore struct {
	Store
	gate  chan struct{}
	calls chan struct{} // if set, receives one value per call
}

func (g *gatedStore) JobSetStateIfRunningMany(ctx context.Context, p []*store.JobSetStateParams) ([]bool, error) {
	if g.calls != nil {
		g.calls <- struct{}{}
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Store.JobSetStateIfRunningMany(ctx, p)
}

// TestCompleterStopIsBounded: a store that does not answer cannot hold
// Stop beyond StopTimeout.
func TestCompleterStopIsBounded(t *testing.T) {
	t.Parallel()
	s, jobs := running(t, 1)
	calls := make(chan struct{}, 10)
	c, _ := New(&Params{
		Store: &gatedStore{Store: s, gate: make(chan struct{}), calls: calls}, FlushDelay: time.Millisecond,
		StopTimeout: 100 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	_ = c.Start(context.Background())
	c.Add(completed(jobs[0]))
	<-calls // a call is in flight
	start := time.Now()
	c.Stop()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Stop took %s with a hung store, want about StopTimeout (100ms)", took)
	}
	if c.Pending() != 1 {
		t.Fatalf("the unrecorded outcome is gone: %d pending", c.Pending())
	}
}

func TestNewRequiresStore(t *testing.T) {
	t.Parallel()
	if _, err := New(&Params{}); err == nil {
		t.Fatal("New without a store: no error")
	}
}
