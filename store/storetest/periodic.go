package storetest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func periodicTests() []test {
	return []test{
		{"UpsertInsertsThenUpdatesKeepingTicks", testPeriodicUpsert},
		{"ListSortedByName", testPeriodicListSortedByName},
		{"DeleteLeavesEnqueuedJobs", testPeriodicDelete},
		{"FireInsertsJobAndRecordsTick", testPeriodicFireInsertsJob},
		{"FireRespectsUniqueKey", testPeriodicFireRespectsUniqueKey},
		{"FireOfSameOrEarlierTickDoesNothing", testPeriodicFireSameOrEarlierTick},
		{"ConcurrentFiresOfOneTickInsertOnce", testPeriodicConcurrentFires},
		{"FireWithoutJobRecordsSkippedTick", testPeriodicFireSkippedTick},
		{"SetNextRecordsNextTickOnly", testPeriodicSetNext},
		{"MissingIsErrNotFound", testPeriodicMissing},
	}
}

// periodicDef returns a periodic job definition called name, created and
// updated at now.
func periodicDef(name string, now time.Time) *store.PeriodicJob {
	return &store.PeriodicJob{
		Name: name, Spec: "*/5 * * * *", Kind: "report." + name, Args: json.RawMessage(`{"name":"` + name + `"}`),
		Queue: "periodic", Priority: 1, MaxAttempts: 3, Timeout: time.Minute, CatchUp: store.CatchUpOnce, Source: "code",
		CreatedAt: now, UpdatedAt: now,
	}
}

// periodicJob returns the job a tick of p enqueues.
func periodicJob(p *store.PeriodicJob) *store.JobInsertParams {
	return &store.JobInsertParams{
		Kind: p.Kind, Queue: p.Queue, Priority: p.Priority, Args: p.Args, MaxAttempts: p.MaxAttempts, Timeout: p.Timeout,
	}
}

// upsertPeriodic calls PeriodicUpsert.
func upsertPeriodic(t *testing.T, s store.Store, p *store.PeriodicJob) *store.PeriodicJob {
	t.Helper()
	got, err := s.PeriodicUpsert(t.Context(), p)
	if err != nil {
		t.Fatalf("PeriodicUpsert(%q): %v", p.Name, err)
	}
	if got == nil {
		t.Fatalf("PeriodicUpsert(%q) returned nil, want the entry as stored", p.Name)
	}
	return got
}

// periodics calls PeriodicList.
func periodics(t *testing.T, s store.Store) []*store.PeriodicJob {
	t.Helper()
	ps, err := s.PeriodicList(t.Context())
	if err != nil {
		t.Fatalf("PeriodicList: %v", err)
	}
	return ps
}

// periodicNamed returns the entry of PeriodicList called name.
func periodicNamed(t *testing.T, s store.Store, name string) *store.PeriodicJob {
	t.Helper()
	for _, p := range periodics(t, s) {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("PeriodicList has no entry %q", name)
	return nil
}

// fire calls PeriodicFire.
func fire(t *testing.T, s store.Store, p store.PeriodicFireParams) *store.PeriodicFireResult {
	t.Helper()
	if p.Job != nil {
		p.Job = withDefaults(p.Job)
	}
	r, err := s.PeriodicFire(t.Context(), &p)
	if err != nil {
		t.Fatalf("PeriodicFire(%q, tick %s): %v", p.Name, clock(p.Tick), err)
	}
	if r == nil {
		t.Fatalf("PeriodicFire(%q, tick %s) returned a nil result", p.Name, clock(p.Tick))
	}
	return r
}

// wantFired fails unless r is a fired tick that inserted a new job (not
// a Duplicate), and returns the job as stored.
func wantFired(t *testing.T, s store.Store, what string, r *store.PeriodicFireResult) *store.Job {
	t.Helper()
	if !r.Fired || r.Job == nil || r.Duplicate {
		t.Fatalf("%s: PeriodicFire returned Fired %v, Job %v, Duplicate %v; want Fired with a new job",
			what, r.Fired, r.Job != nil, r.Duplicate)
	}
	j := get(t, s, r.Job.ID)
	wantJob(t, what+": the job PeriodicFire returned", r.Job, j)
	return j
}

// wantNotFired fails unless r is a tick already fired: Fired false, no job.
func wantNotFired(t *testing.T, what string, r *store.PeriodicFireResult) {
	t.Helper()
	if r.Fired || r.Job != nil || r.Duplicate {
		t.Fatalf("%s: PeriodicFire returned Fired %v, Job %v, Duplicate %v; want Fired false and no job",
			what, r.Fired, r.Job != nil, r.Duplicate)
	}
}

// periodicDiff lists the fields in which got differs from want.
func periodicDiff(got, want *store.PeriodicJob) []string {
	var d []string
	field := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if p := timeProblem(g, w); p != "" {
			d = append(d, name+" = "+p)
		}
	}
	field("Name", got.Name, want.Name)
	field("Spec", got.Spec, want.Spec)
	field("Kind", got.Kind, want.Kind)
	if !jsonEqual(got.Args, want.Args) {
		d = append(d, fmt.Sprintf("Args = %s, want %s", got.Args, want.Args))
	}
	field("Queue", got.Queue, want.Queue)
	field("Priority", got.Priority, want.Priority)
	field("MaxAttempts", got.MaxAttempts, want.MaxAttempts)
	field("Timeout", got.Timeout, want.Timeout)
	field("CatchUp", got.CatchUp, want.CatchUp)
	field("Source", got.Source, want.Source)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	tm("LastTick", got.LastTick, want.LastTick)
	tm("NextTick", got.NextTick, want.NextTick)
	field("LastJobID", got.LastJobID, want.LastJobID)
	return d
}

// wantPeriodic fails unless got equals want field by field.
func wantPeriodic(t *testing.T, what string, got, want *store.PeriodicJob) {
	t.Helper()
	if d := periodicDiff(got, want); len(d) > 0 {
		t.Fatalf("%s: periodic job %q differs:\n\t%s", what, want.Name, strings.Join(d, "\n\t"))
	}
}

// wantJobCount fails unless the store holds n jobs.
func wantJobCount(t *testing.T, s store.Store, what string, n int) {
	t.Helper()
	if got := len(list(t, s, store.JobListParams{Limit: 1000})); got != n {
		t.Fatalf("%s: the store holds %d jobs, want %d", what, got, n)
	}
}

// "PeriodicUpsert inserts a periodic job or updates the definition of the
// one with the same Name: its Spec, job template, CatchUp, Source and
// UpdatedAt. LastTick, NextTick and LastJobID of an existing entry are
// kept. It returns the entry as stored." CreatedAt, not in that list, is
// kept too. Times come back in UTC.
func testPeriodicUpsert(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+9", 9*60*60)
	def := periodicDef("nightly", at(time.Second+123*time.Microsecond).In(zone))
	want := *def
	want.CreatedAt, want.UpdatedAt = def.CreatedAt.UTC(), def.UpdatedAt.UTC()
	wantPeriodic(t, "PeriodicUpsert of a new entry (returned)", upsertPeriodic(t, s, def), &want)
	wantPeriodic(t, "PeriodicUpsert of a new entry (listed)", periodicNamed(t, s, "nightly"), &want)

	j := wantFired(t, s, "fire", fire(t, s, store.PeriodicFireParams{
		Name: "nightly", Tick: at(time.Hour), NextTick: at(2 * time.Hour), Job: periodicJob(def), Now: at(time.Hour),
	}))

	changed := &store.PeriodicJob{
		Name: "nightly", Spec: "@every 1h", Kind: "report.v2", Args: json.RawMessage(`{"v":2}`),
		Queue: "reports", Priority: -2, MaxAttempts: 9, Timeout: 2 * time.Hour, CatchUp: store.CatchUpAll, Source: "api",
		CreatedAt: at(5 * time.Hour), UpdatedAt: at(5 * time.Hour),
		// The scheduler's fields given by the caller are ignored on update.
		LastTick: at(3 * time.Hour), NextTick: at(4 * time.Hour), LastJobID: missingID,
	}
	want = *changed
	want.CreatedAt, want.LastTick, want.NextTick, want.LastJobID = at(time.Second+123*time.Microsecond), at(time.Hour), at(2*time.Hour), j.ID
	wantPeriodic(t, "PeriodicUpsert of an existing entry (returned)", upsertPeriodic(t, s, changed), &want)
	if ps := periodics(t, s); len(ps) != 1 {
		t.Fatalf("PeriodicList after two upserts of one name lists %d entries, want 1", len(ps))
	}
	wantPeriodic(t, "PeriodicUpsert of an existing entry (listed)", periodicNamed(t, s, "nightly"), &want)
	wantJobCount(t, s, "after the upserts", 1)
}

// "PeriodicList returns every periodic job, sorted by Name."
func testPeriodicListSortedByName(t *testing.T, s store.Store) {
	if ps := periodics(t, s); len(ps) != 0 {
		t.Fatalf("PeriodicList of an empty store lists %d entries, want none", len(ps))
	}
	names := []string{"m", "b", "zz", "a", "b2"}
	for _, n := range names {
		upsertPeriodic(t, s, periodicDef(n, at(0)))
	}
	slices.Sort(names)
	ps := periodics(t, s)
	var got []string
	for _, p := range ps {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, names) {
		t.Fatalf("PeriodicList = %q, want %q", got, names)
	}
	for _, p := range ps {
		wantPeriodic(t, "listed entry", p, periodicDef(p.Name, at(0)))
	}
}

// "PeriodicDelete deletes the periodic job Name ([ErrNotFound] if there is
// none). Jobs it already enqueued are untouched." An entry upserted again
// after its deletion starts afresh.
func testPeriodicDelete(t *testing.T, s store.Store) {
	def := periodicDef("hourly", at(0))
	upsertPeriodic(t, s, def)
	upsertPeriodic(t, s, periodicDef("other", at(0)))
	j := wantFired(t, s, "fire", fire(t, s, store.PeriodicFireParams{
		Name: "hourly", Tick: at(time.Hour), NextTick: at(2 * time.Hour), Job: periodicJob(def), Now: at(time.Hour),
	}))
	if err := s.PeriodicDelete(t.Context(), "hourly"); err != nil {
		t.Fatalf("PeriodicDelete(%q): %v", "hourly", err)
	}
	if ps := periodics(t, s); len(ps) != 1 || ps[0].Name != "other" {
		t.Fatalf("PeriodicList after deleting hourly lists %d entries, want only \"other\"", len(ps))
	}
	wantUnchanged(t, s, "job enqueued by the deleted periodic job", j)
	wantErrIs(t, "second PeriodicDelete of the same name", s.PeriodicDelete(t.Context(), "hourly"), store.ErrNotFound)
	wantErrIs(t, "PeriodicDelete of a name never upserted", s.PeriodicDelete(t.Context(), "never"), store.ErrNotFound)

	again := upsertPeriodic(t, s, periodicDef("hourly", at(3*time.Hour)))
	wantPeriodic(t, "PeriodicUpsert after the delete", again, periodicDef("hourly", at(3*time.Hour)))
	wantFired(t, s, "fire of the old tick after re-creating", fire(t, s, store.PeriodicFireParams{
		Name: "hourly", Tick: at(time.Hour), NextTick: at(2 * time.Hour), Job: periodicJob(def), Now: at(3 * time.Hour),
	}))
}

// "if the entry exists and its LastTick is before Tick (or zero), it
// inserts Job (as JobInsertMany would, at Now) and sets LastTick = Tick,
// NextTick and LastJobID, and returns the inserted ... job with Fired
// true."
func testPeriodicFireInsertsJob(t *testing.T, s store.Store) {
	def := upsertPeriodic(t, s, periodicDef("five", at(0)))
	now := at(5*time.Minute + 250*time.Millisecond) // a late scheduler
	p := periodicJob(def)
	p.Workflow = "wf"
	r := fire(t, s, store.PeriodicFireParams{Name: "five", Tick: at(5 * time.Minute), NextTick: at(10 * time.Minute), Job: p, Now: now})
	j := wantFired(t, s, "first tick", r)
	wantJob(t, "the job of the first tick", j, &store.Job{
		ID: j.ID, Kind: def.Kind, Queue: def.Queue, Priority: def.Priority, Args: def.Args, State: store.StateAvailable,
		MaxAttempts: def.MaxAttempts, Timeout: def.Timeout, EnqueuedAt: now, RunAt: now, Workflow: "wf",
	})
	want := *def
	want.LastTick, want.NextTick, want.LastJobID = at(5*time.Minute), at(10*time.Minute), j.ID
	wantPeriodic(t, "entry after the first tick", periodicNamed(t, s, "five"), &want)
	fetchID(t, s, "w", now, j.ID, def.Queue)

	// The next tick inserts the next job.
	k := wantFired(t, s, "second tick", fire(t, s, store.PeriodicFireParams{
		Name: "five", Tick: at(10 * time.Minute), NextTick: at(15 * time.Minute), Job: periodicJob(def), Now: at(10 * time.Minute),
	}))
	if k.ID == j.ID {
		t.Fatalf("the second tick returned the first tick's job %d, want a new job", j.ID)
	}
	want.LastTick, want.NextTick, want.LastJobID = at(10*time.Minute), at(15*time.Minute), k.ID
	wantPeriodic(t, "entry after the second tick", periodicNamed(t, s, "five"), &want)
	wantJobCount(t, s, "after two ticks", 2)
}

// Job is inserted "as JobInsertMany would": a unique key held by a live job
// inserts nothing and returns the existing job with Duplicate set; the tick
// is still fired (recorded), and LastJobID is that live job, which stands
// for the tick. (The contract says "sets ... LastJobID" without saying
// which job for a Duplicate; the job that will run is the useful one.)
func testPeriodicFireRespectsUniqueKey(t *testing.T, s store.Store) {
	def := upsertPeriodic(t, s, periodicDef("uniq", at(0)))
	p := periodicJob(def)
	p.UniqueKey = "periodic:uniq"
	first := wantFired(t, s, "first tick", fire(t, s, store.PeriodicFireParams{
		Name: "uniq", Tick: at(time.Minute), NextTick: at(2 * time.Minute), Job: p, Now: at(time.Minute),
	}))

	r := fire(t, s, store.PeriodicFireParams{Name: "uniq", Tick: at(2 * time.Minute), NextTick: at(3 * time.Minute), Job: p, Now: at(2 * time.Minute)})
	if !r.Fired || !r.Duplicate || r.Job == nil || r.Job.ID != first.ID {
		t.Fatalf("tick while the first tick's job (unique key %q) is live: Fired %v, Duplicate %v, Job %v; want Fired, Duplicate of job %d",
			p.UniqueKey, r.Fired, r.Duplicate, r.Job != nil, first.ID)
	}
	wantJob(t, "the Duplicate result's Job", r.Job, get(t, s, first.ID))
	wantJobCount(t, s, "after a tick with a held unique key", 1)
	want := *def
	want.LastTick, want.NextTick, want.LastJobID = at(2*time.Minute), at(3*time.Minute), first.ID
	wantPeriodic(t, "entry after the Duplicate tick", periodicNamed(t, s, "uniq"), &want)

	// Once the first job finished, the next tick inserts a new one.
	r1 := fetchID(t, s, "w", at(2*time.Minute), first.ID, def.Queue)
	finish(t, s, r1, store.JobSetStateParams{State: store.StateCompleted, Now: at(2 * time.Minute)})
	wantFired(t, s, "tick after the unique job completed", fire(t, s, store.PeriodicFireParams{
		Name: "uniq", Tick: at(3 * time.Minute), NextTick: at(4 * time.Minute), Job: p, Now: at(3 * time.Minute),
	}))
}

// "Otherwise (the tick or a later one was already fired, for example by
// another leader) it changes nothing and returns Fired false."
func testPeriodicFireSameOrEarlierTick(t *testing.T, s store.Store) {
	def := upsertPeriodic(t, s, periodicDef("p", at(0)))
	j := wantFired(t, s, "tick base+10m", fire(t, s, store.PeriodicFireParams{
		Name: "p", Tick: at(10 * time.Minute), NextTick: at(15 * time.Minute), Job: periodicJob(def), Now: at(10 * time.Minute),
	}))
	want := *def
	want.LastTick, want.NextTick, want.LastJobID = at(10*time.Minute), at(15*time.Minute), j.ID
	for _, c := range []struct {
		what string
		tick time.Time
	}{
		{"the same tick again", at(10 * time.Minute)},
		{"an earlier tick", at(5 * time.Minute)},
		{"a tick a microsecond earlier", at(10*time.Minute - time.Microsecond)},
	} {
		wantNotFired(t, c.what, fire(t, s, store.PeriodicFireParams{
			Name: "p", Tick: c.tick, NextTick: at(time.Hour), Job: periodicJob(def), Now: at(11 * time.Minute),
		}))
		wantNotFired(t, c.what+" (skipped)", fire(t, s, store.PeriodicFireParams{
			Name: "p", Tick: c.tick, NextTick: at(time.Hour), Now: at(11 * time.Minute),
		}))
		wantPeriodic(t, "entry after firing "+c.what, periodicNamed(t, s, "p"), &want)
		wantJobCount(t, s, "after firing "+c.what, 1)
	}
	wantFired(t, s, "a tick a microsecond later", fire(t, s, store.PeriodicFireParams{
		Name: "p", Tick: at(10*time.Minute + time.Microsecond), NextTick: at(time.Hour), Job: periodicJob(def), Now: at(11 * time.Minute),
	}))
}

// "atomically and at most once per tick": 16 goroutines (the schedulers of
// two leaders overlapping, a retry after a timeout) fire each tick at
// once; exactly one fires it and one job is inserted per tick.
func testPeriodicConcurrentFires(t *testing.T, s store.Store) {
	const goroutines, ticks = 16, 8
	def := upsertPeriodic(t, s, periodicDef("busy", at(0)))
	for tick := range ticks {
		when := at(time.Duration(tick+1) * time.Minute)
		results := make([]*store.PeriodicFireResult, goroutines)
		errs := make([]error, goroutines)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				results[g], errs[g] = s.PeriodicFire(t.Context(), &store.PeriodicFireParams{
					Name: "busy", Tick: when, NextTick: when.Add(time.Minute), Job: withDefaults(periodicJob(def)), Now: when,
				})
			})
		}
		wg.Wait()
		var fired []int64
		for g := range goroutines {
			if errs[g] != nil {
				t.Fatalf("tick %d: concurrent PeriodicFire %d: %v", tick, g, errs[g])
			}
			if r := results[g]; r.Fired {
				if r.Job == nil {
					t.Fatalf("tick %d: a concurrent PeriodicFire returned Fired without its job", tick)
				}
				fired = append(fired, r.Job.ID)
			} else if r.Job != nil {
				t.Fatalf("tick %d: a concurrent PeriodicFire returned Fired false with job %d", tick, r.Job.ID)
			}
		}
		if len(fired) != 1 {
			t.Fatalf("tick %d: %d concurrent PeriodicFire calls fired it %d times (jobs %v), want exactly once",
				tick, goroutines, len(fired), fired)
		}
		wantJobCount(t, s, fmt.Sprintf("after tick %d", tick), tick+1)
		if got := periodicNamed(t, s, "busy"); got.LastJobID != fired[0] {
			t.Fatalf("tick %d: LastJobID = %d, want %d (the job of the one fire)", tick, got.LastJobID, fired[0])
		}
	}
}

// "With Job nil it records the tick without inserting anything (a skipped
// tick) and returns Fired true and a nil Job." LastJobID still names the
// last job enqueued (nothing was).
func testPeriodicFireSkippedTick(t *testing.T, s store.Store) {
	def := upsertPeriodic(t, s, periodicDef("skippy", at(0)))
	r := fire(t, s, store.PeriodicFireParams{Name: "skippy", Tick: at(time.Minute), NextTick: at(2 * time.Minute), Now: at(time.Minute)})
	if !r.Fired || r.Job != nil || r.Duplicate {
		t.Fatalf("skipped tick: PeriodicFire returned Fired %v, Job %v, Duplicate %v; want Fired true, no job",
			r.Fired, r.Job != nil, r.Duplicate)
	}
	wantJobCount(t, s, "after a skipped tick", 0)
	want := *def
	want.LastTick, want.NextTick = at(time.Minute), at(2*time.Minute)
	wantPeriodic(t, "entry after a skipped tick", periodicNamed(t, s, "skippy"), &want)
	// The skipped tick counts as fired.
	wantNotFired(t, "the skipped tick again, with a job", fire(t, s, store.PeriodicFireParams{
		Name: "skippy", Tick: at(time.Minute), NextTick: at(2 * time.Minute), Job: periodicJob(def), Now: at(time.Minute),
	}))

	j := wantFired(t, s, "tick base+2m", fire(t, s, store.PeriodicFireParams{
		Name: "skippy", Tick: at(2 * time.Minute), NextTick: at(3 * time.Minute), Job: periodicJob(def), Now: at(2 * time.Minute),
	}))
	fire(t, s, store.PeriodicFireParams{Name: "skippy", Tick: at(3 * time.Minute), NextTick: at(4 * time.Minute), Now: at(3 * time.Minute)})
	want.LastTick, want.NextTick, want.LastJobID = at(3*time.Minute), at(4*time.Minute), j.ID
	wantPeriodic(t, "entry after a job and a skipped tick", periodicNamed(t, s, "skippy"), &want)
	wantJobCount(t, s, "after a job and a skipped tick", 1)
}

// "PeriodicSetNext records NextTick of the periodic job Name ... without
// firing": nothing else changes, and no job is inserted.
func testPeriodicSetNext(t *testing.T, s store.Store) {
	def := upsertPeriodic(t, s, periodicDef("n", at(0)))
	j := wantFired(t, s, "fire", fire(t, s, store.PeriodicFireParams{
		Name: "n", Tick: at(time.Minute), NextTick: at(2 * time.Minute), Job: periodicJob(def), Now: at(time.Minute),
	}))
	zone := time.FixedZone("UTC-3", -3*60*60)
	if err := s.PeriodicSetNext(t.Context(), "n", at(7*time.Minute+5*time.Microsecond).In(zone)); err != nil {
		t.Fatalf("PeriodicSetNext: %v", err)
	}
	want := *def
	want.LastTick, want.NextTick, want.LastJobID = at(time.Minute), at(7*time.Minute+5*time.Microsecond), j.ID
	wantPeriodic(t, "entry after PeriodicSetNext", periodicNamed(t, s, "n"), &want)
	wantJobCount(t, s, "after PeriodicSetNext", 1)
	// It does not fire: the next tick still does.
	wantFired(t, s, "tick after PeriodicSetNext", fire(t, s, store.PeriodicFireParams{
		Name: "n", Tick: at(7 * time.Minute), NextTick: at(8 * time.Minute), Job: periodicJob(def), Now: at(7 * time.Minute),
	}))
}

// "A missing entry is [ErrNotFound]" for PeriodicFire and PeriodicSetNext;
// a fire of a missing entry inserts nothing.
func testPeriodicMissing(t *testing.T, s store.Store) {
	upsertPeriodic(t, s, periodicDef("present", at(0)))
	_, err := s.PeriodicFire(t.Context(), &store.PeriodicFireParams{
		Name: "absent", Tick: at(time.Minute), NextTick: at(2 * time.Minute), Job: withDefaults(&store.JobInsertParams{}), Now: at(time.Minute),
	})
	wantErrIs(t, "PeriodicFire of a missing entry", err, store.ErrNotFound)
	_, err = s.PeriodicFire(t.Context(), &store.PeriodicFireParams{Name: "absent", Tick: at(time.Minute), Now: at(time.Minute)})
	wantErrIs(t, "PeriodicFire (skipped tick) of a missing entry", err, store.ErrNotFound)
	wantJobCount(t, s, "after firing a missing entry", 0)
	wantErrIs(t, "PeriodicSetNext of a missing entry", s.PeriodicSetNext(t.Context(), "absent", at(time.Hour)), store.ErrNotFound)
	if ps := periodics(t, s); len(ps) != 1 {
		t.Fatalf("PeriodicList after calls on a missing entry lists %d entries, want 1 (they must not create it)", len(ps))
	}
}
