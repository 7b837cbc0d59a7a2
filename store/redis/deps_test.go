package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
)

// The AttemptError of a job cancelled by its dependency is written by Lua,
// which formats the time itself (iso in lib.lua): it must read back as the
// same instant, to the microsecond, around every calendar edge.
func TestLuaISOTimeMatchesGo(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	lib, err := luaFS.ReadFile("lua/lib.lua")
	if err != nil {
		t.Fatal(err)
	}
	iso := goredis.NewScript(string(lib) + "\nlocal out = {}\nfor i = 1, #ARGV do out[i] = iso(ARGV[i]) end\nreturn out")
	times := []time.Time{
		time.Unix(0, 0), time.Unix(0, 1000), time.Unix(1, -1000),
		time.Date(1972, 2, 29, 23, 59, 59, 999999000, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2000, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2100, 2, 28, 23, 59, 59, 999999000, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(2254, 12, 31, 23, 59, 59, 999999000, time.UTC),
		maxTime.Add(-time.Microsecond),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		us := r.Int64N(maxTime.UnixMicro())
		if r.IntN(4) == 0 {
			us = us/1_000_000*1_000_000 - int64(r.IntN(2)) // around a whole second
		}
		times = append(times, time.UnixMicro(max(us, 0)))
	}
	args := make([]any, len(times))
	for i, tm := range times {
		if args[i], err = encodeTime(tm, "t"); err != nil {
			t.Fatal(err)
		}
	}
	got, err := iso.Run(context.Background(), s.client, s.keys, args...).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	for i, tm := range times {
		var back time.Time
		if err := json.Unmarshal([]byte(`"`+got[i]+`"`), &back); err != nil {
			t.Fatalf("iso(%s) = %q: %v", args[i], got[i], err)
		}
		if !back.Equal(tm) || back.Location() != time.UTC {
			t.Fatalf("iso(%s) = %q, reads as %v, want %v", args[i], got[i], back, tm.UTC())
		}
	}
}

// A workflow leaves no key behind once its jobs are deleted: waiter sets
// go when their job is finalized or deleted, the workflow's id set when
// its last job is deleted.
func TestWorkflowLeavesNoKeys(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	wf := func(p *store.JobInsertParams, after ...int) *store.JobInsertParams {
		p.Workflow, p.After = "wf-1", after
		return p
	}
	// 0 -> 1 -> 2, 0 -> 3 (run on failure), 4 waits for 1 and 3; 5 is
	// deleted while 6 waits for it.
	rof := wf(job("q", 0, t0), 0)
	rof.RunOnFailure = true
	jobs := insert(t, s, t0, wf(job("q", 0, t0)), wf(job("q", 0, t0), 0), wf(job("q", 0, t0), 1), rof,
		wf(job("q", 0, t0), 1, 3), wf(job("q", 0, t0)), wf(job("q", 0, t0), 5))
	if _, err := s.JobDelete(ctx, jobs[5].ID); err != nil {
		t.Fatal(err)
	}
	if j, err := s.JobGet(ctx, jobs[6].ID); err != nil || j.State != store.StateCancelled {
		t.Fatalf("waiter of a deleted job: %+v, %v; want cancelled", j, err)
	}
	// Job 0 fails: 1, 2 and 4 are cancelled, 3 runs and completes.
	now := t0.Add(time.Second)
	for _, want := range []struct {
		id    int64
		state store.State
	}{{jobs[0].ID, store.StateDiscarded}, {jobs[3].ID, store.StateCompleted}} {
		f := fetch(t, s, now, 1, "q")
		if len(f) != 1 || f[0].ID != want.id {
			t.Fatalf("fetched %v, want job %d", ids(f), want.id)
		}
		ok, err := s.JobSetStateIfRunningMany(ctx, []*store.JobSetStateParams{{
			ID: f[0].ID, Owner: "w1", Attempt: 1, State: want.state, Now: now,
		}})
		if err != nil || !ok[0] {
			t.Fatalf("finishing job %d: %v %v", want.id, ok, err)
		}
	}
	for _, st := range []store.State{store.StateCompleted, store.StateDiscarded, store.StateCancelled} {
		if _, err := s.JobDeleteFinalized(ctx, &store.JobDeleteFinalizedParams{State: st, Before: now.Add(time.Hour), Limit: 100}); err != nil {
			t.Fatal(err)
		}
	}
	var left []string
	iter := s.client.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := strings.TrimPrefix(iter.Val(), s.prefix)
		for _, p := range []string{"job:", "waiters:", "workflow:", "unique:"} {
			if strings.HasPrefix(k, p) {
				left = append(left, k)
			}
		}
		if k == "state:waiting" {
			left = append(left, k)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("keys left after every job of the workflow was deleted: %v", left)
	}
	stats, err := s.QueueStats(ctx, &store.QueueStatsParams{Now: now})
	if err != nil || len(stats) != 0 {
		t.Fatalf("QueueStats after every job was deleted: %v, %v; want none", stats, err)
	}
}

// Workers, leaders and periodic jobs of one prefix are invisible to a
// store on another.
func TestPrefixIsolationOfRegistries(t *testing.T) {
	t.Parallel()
	requireRedis(t)
	a := openStoreWithPrefix(t, testPrefix(t), "")
	b := openStoreWithPrefix(t, testPrefix(t), "")
	ctx := context.Background()
	if err := a.WorkerBeat(ctx, &store.WorkerInfo{ID: "w", HeartbeatAt: t0}); err != nil {
		t.Fatal(err)
	}
	if ws, err := b.WorkerList(ctx); err != nil || len(ws) != 0 {
		t.Errorf("store b lists workers %v, %v; want none", ws, err)
	}
	for _, s := range []*Store{a, b} {
		won, err := s.LeaderElect(ctx, &store.LeaderElectParams{Name: "periodic", Holder: s.prefix, Now: t0, ExpiresAt: t0.Add(time.Minute)})
		if err != nil || !won {
			t.Errorf("LeaderElect on %s = %v, %v; want won (each prefix has its own leader)", s.prefix, won, err)
		}
	}
	if _, err := a.PeriodicUpsert(ctx, &store.PeriodicJob{Name: "p", Spec: "@hourly", Kind: "k", Args: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if ps, err := b.PeriodicList(ctx); err != nil || len(ps) != 0 {
		t.Errorf("store b lists periodic jobs %v, %v; want none", ps, err)
	}
	wfJob := job("q", 0, t0)
	wfJob.Workflow = "shared-name"
	insert(t, a, t0, wfJob)
	if l, err := b.JobList(ctx, &store.JobListParams{Workflow: "shared-name", Limit: 10}); err != nil || len(l) != 0 {
		t.Errorf("store b lists workflow jobs %v, %v; want none", ids(l), err)
	}
}

// A missing dependency names its entry and id, and an After index that is
// not an earlier entry names the index; neither inserts anything.
func TestInsertDependencyErrors(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	existing := insert(t, s, t0, job("q", 0, t0))[0]
	bad := job("q", 0, t0)
	bad.AfterIDs = []int64{existing.ID, 999}
	_, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{job("q", 0, t0), bad}, Now: t0})
	if want := fmt.Sprintf("job 1 of 2: AfterIDs: job 999: %v", store.ErrNotFound); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("insert with a missing dependency: %v, want an error containing %q", err, want)
	}
	self := job("q", 0, t0)
	self.After = []int{0}
	_, err = s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{self}, Now: t0})
	if err == nil || !strings.Contains(err.Error(), "After index 0") {
		t.Fatalf("insert after itself: %v, want an error naming After index 0", err)
	}
	if l, err := s.JobList(ctx, &store.JobListParams{Limit: 10}); err != nil || len(l) != 1 {
		t.Fatalf("jobs after the refused inserts: %v, %v; want only job %d", ids(l), err, existing.ID)
	}
}
