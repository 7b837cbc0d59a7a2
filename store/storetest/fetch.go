package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func fetchTests() []test {
	return []test{
		{"OrderStrictQueuesThenPriorityThenRunAtThenID", testFetchOrder},
		{"LimitSpansQueuesInOrder", testFetchLimitSpansQueues},
		{"OnlyListedQueues", testFetchOnlyListedQueues},
		{"SkipsPausedQueues", testFetchSkipsPausedQueues},
		{"LeasesJobsToOwner", testFetchLeasesJobsToOwner},
		{"NothingEligibleReturnsEmpty", testFetchNothingEligible},
		{"RunningJobIsNotFetchedAgain", testFetchRunningNotFetchedAgain},
		{"ScheduledInvisibleUntilDue", testFetchScheduledInvisibleUntilDue},
		{"RetryableInvisibleUntilRunAt", testFetchRetryableInvisibleUntilRunAt},
		{"FinalizedNeverFetched", testFetchFinalizedNeverFetched},
		{"ConcurrentFetchersNeverShareAJob", testFetchConcurrentFetchers},
	}
}

// "Order: Queues in the given order (every eligible job of Queues[0]
// before any of Queues[1]), then Priority descending, then RunAt, then ID."
// Jobs are inserted in a scrambled order, each rule against the next one,
// and fetched one at a time so the store's choice, not the order of a
// returned slice, is tested.
func testFetchOrder(t *testing.T, s store.Store) {
	type spec struct {
		label    string
		queue    string
		priority int
		runAt    time.Duration // after the insert at base; all are due at the fetch
	}
	// Insert order (so ID order). Queues are fetched as ["b", "a"]: not
	// alphabetical, and the first queue's jobs have the lower priorities.
	specs := []spec{
		{"a-p0-late", "a", 0, 40 * time.Second},
		{"b-p0-tie1", "b", 0, 20 * time.Second},
		{"a-p5-late", "a", 5, 30 * time.Second},
		{"b-p0-early", "b", 0, 10 * time.Second}, // RunAt beats a lower ID
		{"b-p0-tie2", "b", 0, 20 * time.Second},
		{"a-neg", "a", -1, 0},                     // available at once, lowest priority
		{"b-p2-latest", "b", 2, 50 * time.Second}, // priority beats RunAt
		{"a-p5-early", "a", 5, 5 * time.Second},
		{"b-p0-tie3", "b", 0, 20 * time.Second}, // three-way tie on RunAt: by ID
		{"c-p9", "c", 9, 0},                     // not listed
		{"a-p0-early", "a", 0, 15 * time.Second},
	}
	want := []string{
		"b-p2-latest", "b-p0-early", "b-p0-tie1", "b-p0-tie2", "b-p0-tie3",
		"a-p5-early", "a-p5-late", "a-p0-early", "a-p0-late", "a-neg",
	}
	ids := map[string]int64{}
	labels := map[int64]string{}
	for _, sp := range specs {
		p := &store.JobInsertParams{Queue: sp.queue, Priority: sp.priority, Kind: sp.label}
		if sp.runAt > 0 {
			p.RunAt = at(sp.runAt)
		}
		j := insert(t, s, at(0), p)
		ids[sp.label], labels[j.ID] = j.ID, sp.label
	}
	var got []string
	for range want {
		got = append(got, labels[fetchOne(t, s, "w", at(time.Minute), "b", "a").ID])
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fetching one job at a time from queues [b a] gave\n\t%v\nwant\n\t%v\n(queue order, then Priority desc, then RunAt, then ID)", got, want)
		}
	}
	fetchNone(t, s, at(time.Minute), "b", "a")
	wantState(t, "job of a queue not in Queues", get(t, s, ids["c-p9"]), store.StateAvailable)
}

// "leases up to Limit jobs": a Limit larger than the first queue's backlog
// is filled from the next queue, best jobs first.
func testFetchLimitSpansQueues(t *testing.T, s store.Store) {
	a := insertN(t, s, at(0), 3, &store.JobInsertParams{Queue: "a"})
	b0 := insert(t, s, at(0), &store.JobInsertParams{Queue: "b"})
	b1 := insert(t, s, at(0), &store.JobInsertParams{Queue: "b", Priority: 1})
	b2 := insert(t, s, at(0), &store.JobInsertParams{Queue: "b"})

	got := fetch(t, s, "w", at(time.Second), 4, "a", "b")
	wantSameIDs(t, "JobFetch(Limit 4) over a (3 jobs) then b", jobIDs(got), []int64{a[0].ID, a[1].ID, a[2].ID, b1.ID})
	got = fetch(t, s, "w", at(time.Second), 1, "a", "b")
	wantSameIDs(t, "JobFetch(Limit 1) after that", jobIDs(got), []int64{b0.ID})
	got = fetch(t, s, "w", at(time.Second), 10, "a", "b")
	wantSameIDs(t, "JobFetch(Limit 10) of the rest", jobIDs(got), []int64{b2.ID})
}

// Eligible jobs are "in a queue of Queues": other queues are not touched.
func testFetchOnlyListedQueues(t *testing.T, s store.Store) {
	x := insert(t, s, at(0), &store.JobInsertParams{Queue: "x"})
	y := insert(t, s, at(0), &store.JobInsertParams{Queue: "y"})
	fetchNone(t, s, at(time.Second), "z", "default")
	got := fetch(t, s, "w", at(time.Second), 10, "y")
	wantIDs(t, "JobFetch(queues [y])", jobIDs(got), []int64{y.ID})
	wantState(t, "job of queue x after fetching [y]", get(t, s, x.ID), store.StateAvailable)
}

// Eligible jobs are in a queue "that is not paused": a paused queue is
// skipped and the next one served.
func testFetchSkipsPausedQueues(t *testing.T, s store.Store) {
	a := insert(t, s, at(0), &store.JobInsertParams{Queue: "a"})
	b := insert(t, s, at(0), &store.JobInsertParams{Queue: "b"})
	pause(t, s, "a")
	got := fetch(t, s, "w", at(time.Second), 10, "a", "b")
	wantIDs(t, "JobFetch(queues [a b]) with a paused", jobIDs(got), []int64{b.ID})
	wantState(t, "job of the paused queue", get(t, s, a.ID), store.StateAvailable)
}

// "Each fetched job becomes running with Attempt incremented, AttemptedAt
// = Now, LeaseOwner = Owner and LeaseExpiresAt as given; the returned jobs
// show that new state." Nothing else changes.
func testFetchLeasesJobsToOwner(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{
		Kind: "k", Priority: 3, Args: json.RawMessage(`{"x":1}`), MaxAttempts: 4, Timeout: time.Minute,
		UniqueKey: "u",
	})
	now, expires := at(10*time.Second+7*time.Microsecond), at(45*time.Second)
	jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{"default"}, Limit: 5, Owner: "worker-1", Now: now, LeaseExpiresAt: expires,
	})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("JobFetch: %d jobs, error %v; want the one available job", len(jobs), err)
	}
	want := *j
	want.State, want.Attempt, want.AttemptedAt = store.StateRunning, 1, now
	want.LeaseOwner, want.LeaseExpiresAt = "worker-1", expires
	wantJob(t, "job returned by JobFetch", jobs[0], &want)
	wantJob(t, "JobGet after JobFetch", get(t, s, j.ID), &want)

	// The next attempt counts on from the stored attempt.
	finish(t, s, jobs[0], store.JobSetStateParams{State: store.StateRetryable, Now: at(time.Minute), RunAt: at(time.Minute)})
	again := fetchOne(t, s, "worker-2", at(2*time.Minute))
	wantAttempt(t, "second fetch of the job", again, 2)
	wantTime(t, "AttemptedAt of the second fetch", again.AttemptedAt, at(2*time.Minute))
	if again.LeaseOwner != "worker-2" {
		t.Fatalf("second fetch: LeaseOwner = %q, want %q", again.LeaseOwner, "worker-2")
	}
}

// An empty store, or one with nothing due, fetches nothing (and no error).
func testFetchNothingEligible(t *testing.T, s store.Store) {
	fetchNone(t, s, at(0), "default")
	insert(t, s, at(0), &store.JobInsertParams{RunAt: at(time.Hour)})
	fetchNone(t, s, at(time.Minute), "default")
}

// A running job is not pending: no second fetch returns it, whoever asks.
func testFetchRunningNotFetchedAgain(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{})
	fetchID(t, s, "a", at(time.Second), j.ID, "default")
	fetchNone(t, s, at(2*time.Second), "default")
	// Even once its lease has expired: only JobRescue returns it.
	fetchNone(t, s, at(time.Hour), "default")
}

// Scheduled jobs are eligible "with RunAt <= Now": invisible a
// microsecond before, fetched at RunAt.
func testFetchScheduledInvisibleUntilDue(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{RunAt: at(10 * time.Minute)})
	fetchNone(t, s, at(10*time.Minute-time.Microsecond), "default")
	wantState(t, "scheduled job before it is due", get(t, s, j.ID), store.StateScheduled)
	got := fetchID(t, s, "w", at(10*time.Minute), j.ID, "default")
	wantAttempt(t, "scheduled job fetched when due", got, 1)
}

// Retryable jobs likewise: "due again at RunAt".
func testFetchRetryableInvisibleUntilRunAt(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{})
	r := fetchID(t, s, "w", at(0), j.ID, "default")
	finish(t, s, r, store.JobSetStateParams{
		State: store.StateRetryable, Now: at(time.Second), RunAt: at(5 * time.Minute),
		Error: &store.AttemptError{Attempt: 1, At: at(time.Second), Error: "boom"},
	})
	fetchNone(t, s, at(5*time.Minute-time.Microsecond), "default")
	got := fetchID(t, s, "w", at(5*time.Minute), j.ID, "default")
	wantAttempt(t, "retryable job fetched when due", got, 2)
}

// Only pending jobs are eligible: completed, discarded and cancelled jobs
// are never fetched.
func testFetchFinalizedNeverFetched(t *testing.T, s store.Store) {
	for _, state := range []store.State{store.StateCompleted, store.StateDiscarded, store.StateCancelled} {
		finalized(t, s, "default", state, at(0))
	}
	fetchNone(t, s, at(24*time.Hour), "default")
}

// "Two concurrent fetches never return the same job": 8 fetchers with
// their own owners and small limits drain 10,000 jobs between them, each
// job exactly once, and the store agrees on who holds which. Under the
// race detector the jobs are 2,000, to keep the suite's time in bounds
// (the detector slows an embedded SQLite about thirtyfold); run the suite
// without -race for the full size.
func testFetchConcurrentFetchers(t *testing.T, s store.Store) {
	const batch, fetchers = 1_000, 8
	total := 10_000
	if raceEnabled {
		total = 2_000
	}
	inserted := make([]int64, 0, total)
	for range total / batch {
		for _, j := range insertN(t, s, at(0), batch, &store.JobInsertParams{Args: json.RawMessage(`{"i":1}`)}) {
			inserted = append(inserted, j.ID)
		}
	}

	got := make([][]*store.Job, fetchers)
	errs := make([]error, fetchers)
	var wg sync.WaitGroup
	for w := range fetchers {
		wg.Go(func() {
			owner, limit := fmt.Sprintf("fetcher-%d", w), 10+w*5 // limits 10 to 45
			for {
				jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
					Queues: []string{"default"}, Limit: limit, Owner: owner,
					Now: at(time.Second), LeaseExpiresAt: at(time.Hour),
				})
				if err != nil {
					errs[w] = err
					return
				}
				if len(jobs) > limit {
					errs[w] = fmt.Errorf("fetch with Limit %d returned %d jobs", limit, len(jobs))
					return
				}
				if len(jobs) == 0 {
					return
				}
				got[w] = append(got[w], jobs...)
			}
		})
	}
	wg.Wait()

	owners := make(map[int64]string, total)
	for w, jobs := range got {
		if errs[w] != nil {
			t.Fatalf("concurrent fetcher-%d: %v", w, errs[w])
		}
		owner := fmt.Sprintf("fetcher-%d", w)
		for _, j := range jobs {
			if prev, dup := owners[j.ID]; dup {
				t.Fatalf("job %d was fetched twice: by %s and by %s", j.ID, prev, owner)
			}
			owners[j.ID] = owner
			if j.State != store.StateRunning || j.LeaseOwner != owner || j.Attempt != 1 {
				t.Fatalf("%s received job %d as State %q, LeaseOwner %q, Attempt %d; want running, its own, 1",
					owner, j.ID, j.State, j.LeaseOwner, j.Attempt)
			}
		}
	}
	if len(owners) != total {
		t.Fatalf("%d concurrent fetchers received %d distinct jobs between them, want all %d", fetchers, len(owners), total)
	}
	for _, id := range inserted {
		if _, ok := owners[id]; !ok {
			t.Fatalf("inserted job %d was never fetched", id)
		}
	}
	// The store's record agrees with what each fetcher was told.
	stored := listAll(t, s, store.JobListParams{Limit: 1000})
	for _, j := range stored {
		if j.State != store.StateRunning || j.LeaseOwner != owners[j.ID] {
			t.Fatalf("stored job %d: State %q, LeaseOwner %q; want running under %q, who received it",
				j.ID, j.State, j.LeaseOwner, owners[j.ID])
		}
	}
	if len(stored) != total {
		t.Fatalf("JobList pages hold %d jobs after the fetches, want %d", len(stored), total)
	}
}
