package maintenance

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "m.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// lease inserts n jobs and leases them to owner until expires.
func lease(t *testing.T, s *sqlite.Store, n int, owner string, expires time.Time) []*store.Job {
	t.Helper()
	ctx := context.Background()
	params := make([]*store.JobInsertParams, n)
	for i := range params {
		params[i] = &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), MaxAttempts: 5, RunAt: t0}
	}
	if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: params, Now: t0}); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"q"}, Limit: n, Owner: owner, Now: t0, LeaseExpiresAt: expires})
	if err != nil || len(jobs) != n {
		t.Fatalf("leased %d jobs: %v", len(jobs), err)
	}
	return jobs
}

func get(t *testing.T, s *sqlite.Store, id int64) *store.Job {
	t.Helper()
	j, err := s.JobGet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestHeartbeaterExtendsLeasesAndPassesCancels(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	jobs := lease(t, s, 2, "w1", t0.Add(time.Second))
	other := lease(t, s, 1, "w2", t0.Add(time.Second))
	if _, err := s.JobCancel(context.Background(), &store.JobCancelParams{ID: jobs[1].ID, Now: t0}); err != nil {
		t.Fatal(err)
	}
	cancels := make(chan []int64, 10)
	h, err := NewHeartbeater(&HeartbeaterParams{
		Store: s, Owner: "w1", LeaseFor: time.Hour, Interval: 5 * time.Millisecond,
		Clock:             func() time.Time { return t0 },
		OnCancelRequested: func(ids []int64) { cancels <- ids },
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Start(context.Background())
	defer h.Stop()
	ids := <-cancels
	if len(ids) != 1 || ids[0] != jobs[1].ID {
		t.Fatalf("cancel requests %v, want [%d]", ids, jobs[1].ID)
	}
	for _, j := range jobs {
		if got := get(t, s, j.ID).LeaseExpiresAt; !got.Equal(t0.Add(time.Hour)) {
			t.Fatalf("job %d lease until %s, want extended to %s", j.ID, got, t0.Add(time.Hour))
		}
	}
	if got := get(t, s, other[0].ID).LeaseExpiresAt; !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("another owner's lease changed to %s", got)
	}
}

func TestHeartbeaterSkipsWhenIdle(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	jobs := lease(t, s, 1, "w1", t0.Add(time.Second))
	var asked atomic.Int32
	h, _ := NewHeartbeater(&HeartbeaterParams{
		Store: s, Owner: "w1", LeaseFor: time.Hour, Interval: 2 * time.Millisecond,
		Active: func() bool { asked.Add(1); return false },
		Clock:  func() time.Time { return t0 },
	})
	_ = h.Start(context.Background())
	eventually(t, "a few ticks", func() bool { return asked.Load() >= 3 })
	h.Stop()
	if got := get(t, s, jobs[0].ID).LeaseExpiresAt; !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("an idle heartbeater extended a lease to %s", got)
	}
}

func TestRescuerReturnsExpiredJobs(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	expired := lease(t, s, 5, "dead", t0.Add(time.Second))
	live := lease(t, s, 1, "alive", t0.Add(time.Hour))
	r, err := NewRescuer(&RescuerParams{
		Store: s, Interval: time.Hour, Limit: 2, // batches of 2: three calls at start
		Clock: func() time.Time { return t0.Add(time.Minute) },
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Start(context.Background())
	defer r.Stop()
	for _, j := range expired {
		eventually(t, "the rescue", func() bool { return get(t, s, j.ID).State == store.StateAvailable })
		if got := get(t, s, j.ID); got.LeaseOwner != "" || len(got.Errors) != 1 {
			t.Fatalf("rescued job: owner %q, errors %v", got.LeaseOwner, got.Errors)
		}
	}
	if got := get(t, s, live[0].ID); got.State != store.StateRunning {
		t.Fatalf("a job with a live lease was rescued: %s", got.State)
	}
}

func TestCleanerDeletesPerRetention(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	finish := func(jobs []*store.Job, state store.State, at time.Time) {
		params := make([]*store.JobSetStateParams, len(jobs))
		for i, j := range jobs {
			params[i] = &store.JobSetStateParams{ID: j.ID, Owner: j.LeaseOwner, Attempt: j.Attempt, State: state, Now: at}
		}
		if _, err := s.JobSetStateIfRunningMany(ctx, params); err != nil {
			t.Fatal(err)
		}
	}
	oldDone := lease(t, s, 5, "w", t0.Add(time.Hour))
	newDone := lease(t, s, 1, "w", t0.Add(time.Hour))
	oldDiscarded := lease(t, s, 1, "w", t0.Add(time.Hour))
	oldCancelled := lease(t, s, 1, "w", t0.Add(time.Hour))
	finish(oldDone, store.StateCompleted, t0)
	finish(newDone, store.StateCompleted, t0.Add(47*time.Hour))
	finish(oldDiscarded, store.StateDiscarded, t0)
	finish(oldCancelled, store.StateCancelled, t0)

	c, err := NewCleaner(&CleanerParams{
		Store: s,
		Retention: map[store.State]time.Duration{
			store.StateCompleted: 24 * time.Hour,
			store.StateCancelled: -1, // keep
			store.StateDiscarded: 7 * 24 * time.Hour,
		},
		Limit: 2, // batches of 2
		Clock: func() time.Time { return t0.Add(48 * time.Hour) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Clean(ctx); n != 5 {
		t.Fatalf("cleaned %d jobs, want the 5 completed two days ago", n)
	}
	for _, j := range append(append(newDone, oldDiscarded...), oldCancelled...) {
		get(t, s, j.ID) // still there
	}
	if _, err := NewCleaner(&CleanerParams{Store: s, Retention: map[store.State]time.Duration{store.StateRunning: time.Hour}}); err == nil {
		t.Fatal("a retention for a state that is not final: no error")
	}
}

func TestCleanerLoopRunsAfterFirstDelay(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	jobs := lease(t, s, 1, "w", t0.Add(time.Hour))
	if _, err := s.JobSetStateIfRunningMany(context.Background(), []*store.JobSetStateParams{{
		ID: jobs[0].ID, Owner: "w", Attempt: 1, State: store.StateCompleted, Now: t0,
	}}); err != nil {
		t.Fatal(err)
	}
	c, _ := NewCleaner(&CleanerParams{
		Store:      s,
		Retention:  map[store.State]time.Duration{store.StateCompleted: time.Hour},
		FirstDelay: time.Millisecond, Interval: time.Hour,
		Clock: func() time.Time { return t0.Add(2 * time.Hour) },
	})
	_ = c.Start(context.Background())
	defer c.Stop()
	eventually(t, "the first cleaning", func() bool {
		_, err := s.JobGet(context.Background(), jobs[0].ID)
		return err != nil
	})
}

func TestParamsValidation(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	if _, err := NewHeartbeater(&HeartbeaterParams{Store: s, LeaseFor: time.Second}); err == nil {
		t.Error("heartbeater without Owner: no error")
	}
	if _, err := NewHeartbeater(&HeartbeaterParams{Store: s, Owner: "w"}); err == nil {
		t.Error("heartbeater without LeaseFor: no error")
	}
	if _, err := NewRescuer(&RescuerParams{Store: s}); err == nil {
		t.Error("rescuer without Interval: no error")
	}
	if _, err := NewCleaner(&CleanerParams{}); err == nil {
		t.Error("cleaner without Store: no error")
	}
}
