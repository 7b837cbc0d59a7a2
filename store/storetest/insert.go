package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func migrateTests() []test {
	return []test{
		{"IsIdempotent", testMigrateIsIdempotent},
		{"IsSafeConcurrently", testMigrateIsSafeConcurrently},
	}
}

// Migrate "is safe to call repeatedly": the factory already migrated the
// store, so calling it again must neither fail nor touch the data.
func testMigrateIsIdempotent(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{Kind: "kept", Args: json.RawMessage(`{"n":1}`)})
	for i := range 2 {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate call %d on an already migrated store: %v", i+2, err)
		}
	}
	wantJob(t, "JobGet after migrating again", get(t, s, j.ID), j)
	k := insert(t, s, at(time.Second), &store.JobInsertParams{})
	if k.ID <= j.ID {
		t.Fatalf("job inserted after migrating again got ID %d, want more than the earlier job's %d", k.ID, j.ID)
	}
	wantIDs(t, "JobFetch after migrating again", jobIDs(fetch(t, s, "w", at(time.Minute), 10)), []int64{j.ID, k.ID})
}

// Migrate is safe "from several processes at once": concurrent calls on a
// migrated store all succeed.
func testMigrateIsSafeConcurrently(t *testing.T, s store.Store) {
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Migrate %d: %v", i, err)
		}
	}
	insert(t, s, at(0), &store.JobInsertParams{})
}

func insertTests() []test {
	return []test{
		{"RoundTripsEveryField", testInsertRoundTripsEveryField},
		{"ResultsInOrderNewerJobsHigherIDs", testInsertResultsInOrder},
		{"FutureRunAtIsScheduled", testInsertFutureRunAtIsScheduled},
		{"DueRunAtIsAvailable", testInsertDueRunAtIsAvailable},
		{"TimesComeBackInUTC", testInsertTimesComeBackInUTC},
		{"ConcurrentInsertsGetDistinctIDs", testInsertConcurrent},
		{"WorkflowIsStoredAndReturned", testInsertWorkflow},
	}
}

// "Workflow, when set, tags the job as a member of the workflow with that
// ID": every read returns it (insert, JobGet, JobGetMany, JobList,
// JobFetch, and after the job finished), and a job without one has "".
func testInsertWorkflow(t *testing.T, s store.Store) {
	res := insertMany(t, s, at(0),
		&store.JobInsertParams{Workflow: "wf-01HZX"},
		&store.JobInsertParams{},
		&store.JobInsertParams{Workflow: "other workflow / with spaces", Queue: "q"},
	)
	tagged, plain, other := res[0].Job, res[1].Job, res[2].Job
	for _, c := range []struct {
		j    *store.Job
		want string
	}{{tagged, "wf-01HZX"}, {plain, ""}, {other, "other workflow / with spaces"}} {
		if c.j.Workflow != c.want {
			t.Fatalf("JobInsertMany result: job %d has Workflow %q, want %q", c.j.ID, c.j.Workflow, c.want)
		}
		if got := get(t, s, c.j.ID).Workflow; got != c.want {
			t.Fatalf("JobGet(%d): Workflow %q, want %q", c.j.ID, got, c.want)
		}
	}
	wantJob(t, "JobGet of the workflow member", get(t, s, tagged.ID), tagged)
	wantJob(t, "JobGetMany of the workflow member", getMany(t, s, tagged.ID)[0], tagged)
	wantJob(t, "JobList of the workflow member", list(t, s, store.JobListParams{Queue: "default", Limit: 1, BeforeID: plain.ID})[0], tagged)
	r := fetchID(t, s, "w", at(time.Second), tagged.ID, "default")
	if r.Workflow != tagged.Workflow {
		t.Fatalf("JobFetch: job %d has Workflow %q, want %q", r.ID, r.Workflow, tagged.Workflow)
	}
	done := finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(2 * time.Second)})
	if done.Workflow != tagged.Workflow {
		t.Fatalf("completed job %d has Workflow %q, want %q", done.ID, done.Workflow, tagged.Workflow)
	}
}

// Every field of JobInsertParams is stored, with microsecond times, and a
// new job starts with no attempt, lease, error or result. JobGet returns
// what JobInsertMany returned.
func testInsertRoundTripsEveryField(t *testing.T, s store.Store) {
	now := at(time.Hour + 123456*time.Microsecond)
	p := &store.JobInsertParams{
		Kind:        "email.send",
		Queue:       "mailers",
		Priority:    -3,
		Args:        json.RawMessage(`{"to": "ada@example.com", "n": [1, 2.5, null], "nested": {"ok": true}}`),
		MaxAttempts: 7,
		Timeout:     1500 * time.Millisecond,
		RunAt:       at(2*time.Hour + 654321*time.Microsecond),
		UniqueKey:   "email:ada",
		UniqueUntil: at(3*time.Hour + 1*time.Microsecond),
	}
	j := insert(t, s, now, p)
	want := &store.Job{
		ID:          j.ID,
		Kind:        p.Kind,
		Queue:       p.Queue,
		Priority:    p.Priority,
		Args:        p.Args,
		State:       store.StateScheduled,
		MaxAttempts: p.MaxAttempts,
		Timeout:     p.Timeout,
		EnqueuedAt:  now,
		RunAt:       p.RunAt,
		UniqueKey:   p.UniqueKey,
		UniqueUntil: p.UniqueUntil,
	}
	if j.ID <= 0 {
		t.Fatalf("JobInsertMany: new job has ID %d, want a positive ID", j.ID)
	}
	wantJob(t, "JobInsertMany result", j, want)
	wantJob(t, "JobGet after insert", get(t, s, j.ID), want)

	// And the optional fields left empty stay empty.
	k := insert(t, s, now, &store.JobInsertParams{Kind: "plain", Args: json.RawMessage(`[]`)})
	wantJob(t, "JobGet of a job without timeout or unique key", get(t, s, k.ID), &store.Job{
		ID: k.ID, Kind: "plain", Queue: "default", Args: json.RawMessage(`[]`), State: store.StateAvailable,
		MaxAttempts: 25, EnqueuedAt: now, RunAt: now,
	})
}

// JobInsertMany "returns one result per params entry, in order"; a job
// inserted later has a higher ID (JobList's "newest (highest ID) first").
func testInsertResultsInOrder(t *testing.T, s store.Store) {
	res := insertMany(t, s, at(0),
		&store.JobInsertParams{Kind: "first"},
		&store.JobInsertParams{Kind: "second", Queue: "other"},
		&store.JobInsertParams{Kind: "third", Priority: 9},
	)
	seen := map[int64]bool{}
	for i, want := range []string{"first", "second", "third"} {
		r := res[i]
		if r.Job.Kind != want || r.Duplicate {
			t.Fatalf("JobInsertMany result %d: Kind %q, Duplicate %v; want the %q job, not a duplicate",
				i, r.Job.Kind, r.Duplicate, want)
		}
		if seen[r.Job.ID] {
			t.Fatalf("JobInsertMany gave ID %d to two jobs of one call", r.Job.ID)
		}
		seen[r.Job.ID] = true
	}
	later := insert(t, s, at(time.Second), &store.JobInsertParams{Kind: "later"})
	for _, r := range res {
		if later.ID <= r.Job.ID {
			t.Fatalf("job inserted by a later call got ID %d, want more than %d (an earlier job)", later.ID, r.Job.ID)
		}
	}
}

// "A job whose RunAt is after Now is scheduled."
func testInsertFutureRunAtIsScheduled(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{RunAt: at(time.Microsecond)})
	wantState(t, "insert with RunAt a microsecond after Now", j, store.StateScheduled)
	wantTime(t, "RunAt of a scheduled job", j.RunAt, at(time.Microsecond))
	wantState(t, "JobGet of a scheduled job", get(t, s, j.ID), store.StateScheduled)
}

// "otherwise available": RunAt equal to Now, before Now, or zero. A zero
// RunAt means Now.
func testInsertDueRunAtIsAvailable(t *testing.T, s store.Store) {
	now := at(time.Hour)
	for _, c := range []struct {
		name  string
		runAt time.Time
	}{
		{"RunAt == Now", now},
		{"RunAt before Now", at(0)},
		{"zero RunAt", time.Time{}},
	} {
		j := insert(t, s, now, &store.JobInsertParams{RunAt: c.runAt})
		wantState(t, "insert with "+c.name, j, store.StateAvailable)
		wantState(t, "JobGet after insert with "+c.name, get(t, s, j.ID), store.StateAvailable)
		if c.runAt.IsZero() {
			wantTime(t, "RunAt of a job inserted with a zero RunAt", j.RunAt, now)
		}
		if j.RunAt.After(now) {
			t.Fatalf("insert with %s: RunAt = %s, after Now %s", c.name, clock(j.RunAt), clock(now))
		}
		fetchID(t, s, "w", now, j.ID, "default")
	}
}

// Stores "return them in UTC", whatever location the caller's times are in.
func testInsertTimesComeBackInUTC(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+5", 5*60*60)
	j := insert(t, s, at(0).In(zone), &store.JobInsertParams{
		RunAt: at(time.Minute).In(zone), UniqueKey: "k", UniqueUntil: at(time.Hour).In(zone),
	})
	for _, got := range []*store.Job{j, get(t, s, j.ID)} {
		wantTime(t, "EnqueuedAt given in UTC+5", got.EnqueuedAt, at(0))
		wantTime(t, "RunAt given in UTC+5", got.RunAt, at(time.Minute))
		wantTime(t, "UniqueUntil given in UTC+5", got.UniqueUntil, at(time.Hour))
	}
	jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{"default"}, Limit: 1, Owner: "w",
		Now: at(time.Minute).In(zone), LeaseExpiresAt: at(2 * time.Minute).In(zone),
	})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("JobFetch with times in UTC+5: %d jobs, %v; want the due job", len(jobs), err)
	}
	wantTime(t, "AttemptedAt given in UTC+5", jobs[0].AttemptedAt, at(time.Minute))
	wantTime(t, "LeaseExpiresAt given in UTC+5", jobs[0].LeaseExpiresAt, at(2*time.Minute))
}

// The store is "safe for concurrent use by many goroutines": concurrent
// inserts all land, each with its own ID.
func testInsertConcurrent(t *testing.T, s store.Store) {
	const goroutines, perGoroutine = 4, 25
	ids := make([][]int64, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{
					Now:  at(0),
					Jobs: []*store.JobInsertParams{withDefaults(&store.JobInsertParams{Kind: fmt.Sprintf("g%d-%d", g, i)})},
				})
				if err != nil {
					errs[g] = err
					return
				}
				ids[g] = append(ids[g], res[0].Job.ID)
			}
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for g := range goroutines {
		if errs[g] != nil {
			t.Fatalf("concurrent JobInsertMany in goroutine %d: %v", g, errs[g])
		}
		for _, id := range ids[g] {
			if seen[id] {
				t.Fatalf("concurrent inserts gave ID %d to two jobs", id)
			}
			seen[id] = true
		}
	}
	if got := len(list(t, s, store.JobListParams{Limit: 1000})); got != goroutines*perGoroutine {
		t.Fatalf("JobList after %d concurrent inserts lists %d jobs", goroutines*perGoroutine, got)
	}
}
