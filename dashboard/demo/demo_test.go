package demo_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/autoscale/source"
	"github.com/doubleboiler/boiler/dashboard/demo"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/storeurl"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openStore opens a fresh SQLite store in a temp dir.
func openStore(t *testing.T) store.Store {
	t.Helper()
	ctx := t.Context()
	s, err := storeurl.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func registry() *boiler.Registry {
	r := boiler.NewRegistry()
	builtin.Register(r, nil)
	return r
}

// enqueue adds n sleep jobs and returns them.
func enqueue(t *testing.T, s store.Store, n int) []*store.Job {
	t.Helper()
	c, err := boiler.NewClient(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	params := make([]boiler.EnqueueParams, n)
	for i := range params {
		params[i] = boiler.EnqueueParams{Args: builtin.SleepArgs{MS: 1}}
	}
	res, err := c.EnqueueMany(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	jobs := make([]*store.Job, n)
	for i, r := range res {
		jobs[i] = r.Job
	}
	return jobs
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRecorderRecordsEveryCompletionAfterTheStoreConfirmsIt(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	rec := demo.NewRecorder(0, nil)
	start := rec.Seq()
	jobs := enqueue(t, s, 50)
	before := time.Now()

	w, err := boiler.NewWorker(rec.Wrap(s), registry(), &boiler.WorkerOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "50 completions", func() bool { return rec.Seq()-start >= 50 })
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	got, next, missed := rec.Since(start)
	if missed != 0 || next != start+50 || len(got) != 50 {
		t.Fatalf("Since(%d): %d completions, next %d, missed %d; want 50, %d, 0", start, len(got), next, missed, start+50)
	}
	want := map[int64]bool{}
	for _, j := range jobs {
		want[j.ID] = true
	}
	for _, c := range got {
		if !want[c.ID] {
			t.Errorf("completion of job %d, which was not enqueued or was recorded twice", c.ID)
		}
		delete(want, c.ID)
		// The store says the job is completed, and finalized no later
		// than the recorder says it was confirmed.
		j, err := s.JobGet(t.Context(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != store.StateCompleted || j.FinalizedAt.After(c.At) || c.At.Before(before) {
			t.Errorf("job %d: state %s finalized %s, recorded at %s (test began %s)", c.ID, j.State, j.FinalizedAt, c.At, before)
		}
	}
	if rest, _, _ := rec.Since(next); len(rest) != 0 {
		t.Errorf("Since(next) returned %d completions, want none", len(rest))
	}
}

func TestRecorderReportsWhatItForgot(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	rec := demo.NewRecorder(4, nil)
	enqueue(t, s, 10)
	w, err := boiler.NewWorker(rec.Wrap(s), registry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "10 completions", func() bool { return rec.Seq() >= 10 })
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, next, missed := rec.Since(0)
	if len(got) != 4 || missed != 6 || next != 10 {
		t.Errorf("Since(0) with a ring of 4 after 10: %d completions, missed %d, next %d; want 4, 6, 10", len(got), missed, next)
	}
	if got, next, _ := rec.Since(99); len(got) != 0 || next != 10 {
		t.Errorf("Since(99) (a sequence from another run): %d completions, next %d; want 0, 10", len(got), next)
	}
}

func TestPoolsStartAndStopWorkersThatRunJobs(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	pools, err := demo.NewPools(demo.PoolsOptions{Store: s, Registry: registry(), Worker: boiler.WorkerOptions{Concurrency: 3}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pools.Stop(context.Background()) })
	ctx := t.Context()
	for _, n := range []int{3, 1, 0, 2} {
		if err := pools.Set(ctx, n); err != nil {
			t.Fatal(err)
		}
		if cur, _ := pools.Current(ctx); cur != n || len(pools.Info()) != n {
			t.Fatalf("after Set(%d): Current %d, Info %d pools", n, cur, len(pools.Info()))
		}
	}
	ids := map[string]bool{}
	for _, p := range pools.Info() {
		if ids[p.ID] || p.Concurrency != 3 {
			t.Errorf("pool %+v: duplicate ID or concurrency not 3", p)
		}
		ids[p.ID] = true
	}
	jobs := enqueue(t, s, 30)
	waitFor(t, "the pools to complete 30 jobs", func() bool {
		var done uint64
		for _, p := range pools.Info() {
			done += p.Completed
		}
		return done == 30
	})
	// The worker counts a job when its handler returns; the store records
	// the completion a moment later, in a batch.
	waitFor(t, "the store to record every completion", func() bool {
		for _, j := range jobs {
			if got, err := s.JobGet(ctx, j.ID); err != nil || got.State != store.StateCompleted {
				return false
			}
		}
		return true
	})
	if err := pools.Set(ctx, -1); err == nil {
		t.Error("Set(-1): no error")
	}
	if err := pools.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cur, _ := pools.Current(ctx); cur != 0 {
		t.Errorf("after Stop: Current %d, want 0", cur)
	}
}

func TestEventsStreamCompletionsPoolsAndDecisions(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	rec := demo.NewRecorder(0, nil)
	pools, err := demo.NewPools(demo.PoolsOptions{Store: rec.Wrap(s), Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pools.Stop(context.Background()) })
	src, err := source.NewStore(s, source.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ring := autoscale.NewRing(0)
	ring.Add(autoscale.Decision{Action: autoscale.ActionUp, Current: 0, Desired: 1, Reason: "test"})
	h, err := demo.NewEvents(demo.EventsOptions{Recorder: rec, Pools: pools, Backlog: src, Decisions: ring, Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	// Jobs waiting with no pool: a backlog, no completions.
	jobs := enqueue(t, s, 5)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	next := func() (id string, tick demo.Tick) {
		t.Helper()
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(line[6:]), &tick); err != nil {
					t.Fatal(err)
				}
				return id, tick
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
		return
	}
	_, first := next()
	if first.Backlog != 5 || len(first.Pools) != 0 || len(first.Done) != 0 || len(first.Decisions) != 1 {
		t.Fatalf("first tick %+v: want backlog 5, no pools, nothing done, 1 decision", first)
	}
	if err := pools.Set(ctx, 1); err != nil {
		t.Fatal(err)
	}
	done := map[int64]bool{}
	var lastID string
	for len(done) < 5 {
		id, tick := next()
		lastID = id
		for _, d := range tick.Done {
			done[d[0]] = true
		}
	}
	for _, j := range jobs {
		if !done[j.ID] {
			t.Errorf("job %d not streamed as done", j.ID)
		}
	}
	if lastID != "5" {
		t.Errorf("event id after 5 completions %q, want 5 (the recorder's sequence)", lastID)
	}
}

func TestEventsShowTheNewestDecisionAndTheChanges(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	rec := demo.NewRecorder(0, nil)
	pools, err := demo.NewPools(demo.PoolsOptions{Store: s, Registry: registry()})
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.NewStore(s, source.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ring := autoscale.NewRing(0)
	for i, a := range []autoscale.Action{autoscale.ActionHold, autoscale.ActionUp, autoscale.ActionHold, autoscale.ActionHold,
		autoscale.ActionDown, autoscale.ActionHold, autoscale.ActionHold} {
		ring.Add(autoscale.Decision{Action: a, Reason: strconv.Itoa(i)})
	}
	h, err := demo.NewEvents(demo.EventsOptions{Recorder: rec, Pools: pools, Backlog: src, Decisions: ring})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var tick demo.Tick
		if err := json.Unmarshal([]byte(data), &tick); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range tick.Decisions {
			got = append(got, d.Reason)
		}
		if strings.Join(got, ",") != "6,4,1" {
			t.Errorf("decisions shown %v, want 6 (the newest), 4 (down), 1 (up)", got)
		}
		return
	}
	t.Fatalf("no tick: %v", sc.Err())
}
