package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// countingStore is a real store whose JobInsertMany calls are counted.
// When gate is set, the first call waits on it after reporting on
// entered, so a test can line callers up behind it.
type countingStore struct {
	store.Store
	calls   atomic.Int64
	jobs    atomic.Int64 // jobs passed to JobInsertMany
	entered chan struct{}
	gate    chan struct{}
}

func (s *countingStore) JobInsertMany(ctx context.Context, p *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	s.jobs.Add(int64(len(p.Jobs)))
	if s.calls.Add(1) == 1 && s.gate != nil {
		s.entered <- struct{}{}
		<-s.gate
	}
	return s.Store.JobInsertMany(ctx, p)
}

// gcSetup returns a client on a counting SQLite store. With gated, the
// first store call blocks until release is called.
func gcSetup(t *testing.T, gated bool, opts *ClientOptions) (*Client, *countingStore, func()) {
	t.Helper()
	cs := &countingStore{Store: openStore(t, filepath.Join(t.TempDir(), "boiler.db"))}
	release := func() {}
	if gated {
		cs.entered = make(chan struct{}, 1)
		cs.gate = make(chan struct{})
		var once sync.Once
		release = func() { once.Do(func() { close(cs.gate) }) }
		t.Cleanup(release)
	}
	c, err := NewClient(cs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, cs, release
}

// blockLeader starts a caller whose store call holds the committer busy
// until release, and returns its result channel.
func blockLeader(t *testing.T, c *Client, cs *countingStore) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := c.EnqueueRaw(context.Background(), "gc_leader", nil, nil)
		done <- err
	}()
	select {
	case <-cs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader's store call did not start")
	}
	return done
}

// waitPending waits until n callers wait for the next round.
func waitPending(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.group.mu.Lock()
		got := len(c.group.pending)
		c.group.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers wait for the next round, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommitSharesOneStoreCall(t *testing.T) {
	t.Parallel()
	c, cs, release := gcSetup(t, true, nil)
	leader := blockLeader(t, c, cs)

	const n = 50
	results := make([]*EnqueueResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = c.EnqueueRaw(context.Background(), "gc_job", json.RawMessage(fmt.Sprintf(`{"n": %d}`, i)), nil)
		})
	}
	waitPending(t, c, n)
	release()
	wg.Wait()
	if err := <-leader; err != nil {
		t.Fatalf("leader: %v", err)
	}

	if got := cs.calls.Load(); got != 2 {
		t.Errorf("JobInsertMany was called %d times for %d jobs, want 2 (the leader's, then one for the rest)", got, n+1)
	}
	ids := map[int64]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("job %d: %v", i, errs[i])
		}
		job := results[i].Job
		if results[i].Duplicate {
			t.Errorf("job %d: Duplicate without a unique key", i)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); string(job.Args) != want || job.Kind != "gc_job" {
			t.Errorf("job %d: got kind %q args %s, want gc_job %s", i, job.Kind, job.Args, want)
		}
		if other, ok := ids[job.ID]; ok {
			t.Errorf("jobs %d and %d got the same id %d", other, i, job.ID)
		}
		ids[job.ID] = i
		stored, err := c.JobGet(context.Background(), job.ID)
		if err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
		if string(stored.Args) != string(job.Args) || stored.State != store.StateAvailable {
			t.Errorf("job %d: stored args %s state %s, want %s available", i, stored.Args, stored.State, job.Args)
		}
	}
}

func TestGroupCommitUnderLoad(t *testing.T) {
	t.Parallel()
	c, cs, _ := gcSetup(t, false, nil)
	const goroutines, each = 32, 25
	ids := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				res, err := c.EnqueueRaw(context.Background(), "gc_load", json.RawMessage(fmt.Sprintf(`{"g":%d,"i":%d}`, g, i)), nil)
				if err != nil {
					t.Errorf("goroutine %d job %d: %v", g, i, err)
					return
				}
				if want := fmt.Sprintf(`{"g":%d,"i":%d}`, g, i); string(res.Job.Args) != want {
					t.Errorf("goroutine %d job %d: got args %s, want %s", g, i, res.Job.Args, want)
				}
				ids[g] = append(ids[g], res.Job.ID)
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, list := range ids {
		for _, id := range list {
			if seen[id] {
				t.Errorf("id %d was handed out twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != goroutines*each {
		t.Errorf("got %d distinct jobs, want %d", len(seen), goroutines*each)
	}
	if calls := cs.calls.Load(); calls >= goroutines*each {
		t.Errorf("JobInsertMany was called %d times for %d jobs: nothing was grouped", calls, goroutines*each)
	}
	jobs, err := c.JobList(context.Background(), &store.JobListParams{Kind: "gc_load", Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != goroutines*each {
		t.Errorf("the store holds %d jobs, want %d", len(jobs), goroutines*each)
	}
}

func TestGroupCommitUniqueKeyAmongConcurrentCallers(t *testing.T) {
	t.Parallel()
	c, cs, release := gcSetup(t, true, nil)
	leader := blockLeader(t, c, cs)

	const n = 10
	results := make([]*EnqueueResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = c.EnqueueRaw(context.Background(), "gc_unique", nil, &EnqueueOptions{UniqueKey: "same"})
		})
	}
	waitPending(t, c, n)
	release()
	wg.Wait()
	if err := <-leader; err != nil {
		t.Fatalf("leader: %v", err)
	}

	var inserted []*EnqueueResult
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		if !r.Duplicate {
			inserted = append(inserted, r)
		}
	}
	if len(inserted) != 1 {
		t.Fatalf("%d callers inserted a job with the same unique key, want 1", len(inserted))
	}
	for i, r := range results {
		if r.Job.ID != inserted[0].Job.ID {
			t.Errorf("caller %d got job %d, want the inserted job %d", i, r.Job.ID, inserted[0].Job.ID)
		}
	}
	jobs, err := c.JobList(context.Background(), &store.JobListParams{Kind: "gc_unique"})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 {
		t.Errorf("the store holds %d gc_unique jobs, want 1", len(jobs))
	}
}

func TestGroupCommitBadArgsFailOnlyTheirCaller(t *testing.T) {
	t.Parallel()
	c, cs, release := gcSetup(t, true, nil)
	leader := blockLeader(t, c, cs)

	good := make(chan error, 1)
	go func() {
		_, err := c.EnqueueRaw(context.Background(), "gc_good", nil, nil)
		good <- err
	}()
	waitPending(t, c, 1)
	_, badJSON := c.EnqueueRaw(context.Background(), "gc_bad", json.RawMessage(`{`), nil)
	_, badOpts := c.EnqueueRaw(context.Background(), "gc_bad", nil, &EnqueueOptions{MaxAttempts: -1})
	release()
	if badJSON == nil || badOpts == nil {
		t.Errorf("bad args were accepted: invalid JSON gave %v, negative MaxAttempts gave %v", badJSON, badOpts)
	}
	if err := <-good; err != nil {
		t.Errorf("a good job waiting with bad ones failed: %v", err)
	}
	if err := <-leader; err != nil {
		t.Errorf("leader: %v", err)
	}
	if got := cs.jobs.Load(); got != 2 {
		t.Errorf("the store was given %d jobs, want 2 (the bad ones never reach it)", got)
	}
}

func TestGroupCommitCancelledWaiterReturnsAtOnce(t *testing.T) {
	t.Parallel()
	c, cs, release := gcSetup(t, true, nil)
	leader := blockLeader(t, c, cs)

	// The first waiter gives up; the one behind it must still be written.
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := c.EnqueueRaw(ctx, "gc_cancelled", nil, nil)
		cancelled <- err
	}()
	waitPending(t, c, 1)
	other := make(chan error, 1)
	go func() {
		_, err := c.EnqueueRaw(context.Background(), "gc_other", nil, nil)
		other <- err
	}()
	waitPending(t, c, 2)

	cancel()
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled caller kept waiting for the store")
	}
	release()
	if err := <-leader; err != nil {
		t.Errorf("leader: %v", err)
	}
	if err := <-other; err != nil {
		t.Errorf("the caller behind the cancelled one: %v", err)
	}
	for kind, want := range map[string]int{"gc_cancelled": 0, "gc_other": 1} {
		jobs, err := c.JobList(context.Background(), &store.JobListParams{Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != want {
			t.Errorf("the store holds %d %s jobs, want %d", len(jobs), kind, want)
		}
	}
}

func TestGroupCommitOff(t *testing.T) {
	t.Parallel()
	c, cs, release := gcSetup(t, true, &ClientOptions{NoGroupCommit: true})
	leader := blockLeader(t, c, cs)

	const n = 5
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = c.EnqueueRaw(context.Background(), "gc_off", nil, nil)
		})
	}
	wg.Wait() // they do not wait for the blocked leader
	release()
	if err := <-leader; err != nil {
		t.Errorf("leader: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("job %d: %v", i, err)
		}
	}
	if got := cs.calls.Load(); got != n+1 {
		t.Errorf("JobInsertMany was called %d times, want one per job (%d)", got, n+1)
	}
}

// A caller promoted to lead the next round whose ctx ends before it runs
// the round must pass the lead on, or leave the committer idle.
func TestGroupCommitAbandonedLeadPassesOn(t *testing.T) {
	t.Parallel()
	g := newGroupCommitter(nil)
	newWaiter := func(st gcState) *gcWaiter {
		return &gcWaiter{ctx: context.Background(), wake: make(chan struct{}, 1), state: st}
	}
	a, b := newWaiter(gcLeading), newWaiter(gcWaiting)
	g.busy = true
	g.pending = []*gcWaiter{a, b}

	if _, err := g.abandon(a, context.Canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("abandoning the promoted leader: got %v, want context.Canceled", err)
	}
	if len(g.pending) != 1 || g.pending[0] != b || b.state != gcLeading || !g.busy {
		t.Fatalf("after the leader gave up: pending %d, next state %d, busy %v; want b alone, leading, busy", len(g.pending), b.state, g.busy)
	}
	select {
	case <-b.wake:
	default:
		t.Error("the next leader was not woken")
	}

	if _, err := g.abandon(b, context.DeadlineExceeded); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("abandoning the last leader: got %v, want context.DeadlineExceeded", err)
	}
	if len(g.pending) != 0 || g.busy {
		t.Errorf("after every caller gave up: pending %d, busy %v; want none, idle", len(g.pending), g.busy)
	}
}
