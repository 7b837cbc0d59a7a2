package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func uniqueTests() []test {
	return []test{
		{"DuplicateReturnsExistingJob", testUniqueDuplicateReturnsExistingJob},
		{"SameKeyTwiceInOneCall", testUniqueSameKeyTwiceInOneCall},
		{"DifferentKeysAreIndependent", testUniqueDifferentKeysAreIndependent},
		{"ZeroUntilHoldsUntilFinalized", testUniqueZeroUntilHoldsUntilFinalized},
		{"ZeroUntilFreedByEveryFinalState", testUniqueZeroUntilFreedByEveryFinalState},
		{"UntilHoldsAfterCompletion", testUniqueUntilHoldsAfterCompletion},
		{"UntilExpiresWhileJobPending", testUniqueUntilExpiresWhileJobPending},
		{"DeletedJobFreesKey", testUniqueDeletedJobFreesKey},
		{"ConcurrentDuplicatesInsertOnce", testUniqueConcurrentDuplicatesInsertOnce},
	}
}

// wantDuplicateOf inserts p at now and fails unless the result is a
// Duplicate carrying existing (as stored now) and no row was added.
func wantDuplicateOf(t *testing.T, s store.Store, now time.Time, p *store.JobInsertParams, existing *store.Job, why string) {
	t.Helper()
	before := len(list(t, s, store.JobListParams{Limit: 1000}))
	r := insertMany(t, s, now, p)[0]
	if !r.Duplicate {
		t.Fatalf("%s: insert with unique key %q at %s inserted job %d, want Duplicate of job %d",
			why, p.UniqueKey, clock(now), r.Job.ID, existing.ID)
	}
	wantJob(t, why+": the Duplicate result's Job (the existing job)", r.Job, get(t, s, existing.ID))
	if after := len(list(t, s, store.JobListParams{Limit: 1000})); after != before {
		t.Fatalf("%s: a Duplicate insert changed the number of jobs from %d to %d, want no new row", why, before, after)
	}
}

// wantInserted inserts p at now and fails unless it is a new job.
func wantInserted(t *testing.T, s store.Store, now time.Time, p *store.JobInsertParams, why string) *store.Job {
	t.Helper()
	r := insertMany(t, s, now, p)[0]
	if r.Duplicate {
		t.Fatalf("%s: insert with unique key %q at %s came back as a Duplicate of job %d (state %s), want a new job",
			why, p.UniqueKey, clock(now), r.Job.ID, r.Job.State)
	}
	return r.Job
}

// "A job whose UniqueKey is held by a live job is not inserted: its result
// carries the existing job and Duplicate set."
func testUniqueDuplicateReturnsExistingJob(t *testing.T, s store.Store) {
	p := &store.JobInsertParams{UniqueKey: "report:42"}
	first := insert(t, s, at(0), p)
	wantDuplicateOf(t, s, at(time.Second), p, first, "second enqueue of a pending job's key")
	// The duplicate does not depend on the rest of the params.
	wantDuplicateOf(t, s, at(2*time.Second),
		&store.JobInsertParams{UniqueKey: "report:42", Kind: "other", Queue: "elsewhere", Priority: 5},
		first, "enqueue of the same key with other params")
	// No key, no uniqueness.
	a := insert(t, s, at(0), &store.JobInsertParams{})
	b := insert(t, s, at(0), &store.JobInsertParams{})
	if a.ID == b.ID {
		t.Fatalf("two jobs without a unique key got the same ID %d", a.ID)
	}
}

// "Two entries of the same call with the same key behave as if inserted
// one after the other": the second is a Duplicate of the first.
func testUniqueSameKeyTwiceInOneCall(t *testing.T, s store.Store) {
	res := insertMany(t, s, at(0),
		&store.JobInsertParams{UniqueKey: "k", Kind: "one"},
		&store.JobInsertParams{UniqueKey: "other"},
		&store.JobInsertParams{UniqueKey: "k", Kind: "two"},
	)
	if res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("JobInsertMany: first entries of their keys came back Duplicate (%v, %v), want new jobs",
			res[0].Duplicate, res[1].Duplicate)
	}
	if !res[2].Duplicate || res[2].Job.ID != res[0].Job.ID {
		t.Fatalf("JobInsertMany: second entry with key \"k\" = job %d Duplicate %v, want Duplicate of job %d (the first entry)",
			res[2].Job.ID, res[2].Duplicate, res[0].Job.ID)
	}
	if res[2].Job.Kind != "one" {
		t.Fatalf("Duplicate result carries a job of Kind %q, want the existing job's Kind \"one\"", res[2].Job.Kind)
	}
	if n := len(list(t, s, store.JobListParams{Limit: 100})); n != 2 {
		t.Fatalf("after one call with keys k, other, k: %d jobs stored, want 2", n)
	}
}

// Keys are independent: holding one does not block another.
func testUniqueDifferentKeysAreIndependent(t *testing.T, s store.Store) {
	a := insert(t, s, at(0), &store.JobInsertParams{UniqueKey: "a"})
	b := wantInserted(t, s, at(0), &store.JobInsertParams{UniqueKey: "b"}, "key b while key a is held")
	wantDuplicateOf(t, s, at(time.Second), &store.JobInsertParams{UniqueKey: "a"}, a, "key a again")
	wantDuplicateOf(t, s, at(time.Second), &store.JobInsertParams{UniqueKey: "b"}, b, "key b again")
}

// "when UniqueUntil is zero, until it is finalized": the key is held while
// the job is available, running, retryable and scheduled, and frees when
// it completes.
func testUniqueZeroUntilHoldsUntilFinalized(t *testing.T, s store.Store) {
	p := &store.JobInsertParams{UniqueKey: "k"}
	j := insert(t, s, at(0), p)
	wantDuplicateOf(t, s, at(time.Second), p, j, "key of an available job")

	r := fetchID(t, s, "w", at(2*time.Second), j.ID, "default")
	wantDuplicateOf(t, s, at(3*time.Second), p, j, "key of a running job")

	finish(t, s, r, store.JobSetStateParams{State: store.StateRetryable, Now: at(4 * time.Second), RunAt: at(time.Hour)})
	wantDuplicateOf(t, s, at(5*time.Second), p, j, "key of a retryable job")

	r = fetchID(t, s, "w", at(time.Hour), j.ID, "default")
	finish(t, s, r, store.JobSetStateParams{State: store.StateScheduled, Now: at(time.Hour), RunAt: at(2 * time.Hour), UndoAttempt: true})
	wantDuplicateOf(t, s, at(time.Hour+time.Second), p, j, "key of a snoozed (scheduled) job")

	// Held long after any window would have passed: only finalization frees it.
	r = fetchID(t, s, "w", at(2*time.Hour), j.ID, "default")
	wantDuplicateOf(t, s, at(48*time.Hour), p, j, "key of a job running for two days")
	finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(48*time.Hour + time.Second)})
	k := wantInserted(t, s, at(48*time.Hour+2*time.Second), p, "key of a completed job with a zero UniqueUntil")
	wantDuplicateOf(t, s, at(48*time.Hour+3*time.Second), p, k, "key of the new job")
}

// Every final state frees a key without UniqueUntil: completed, discarded,
// cancelled by its worker and cancelled by a person.
func testUniqueZeroUntilFreedByEveryFinalState(t *testing.T, s store.Store) {
	for i, state := range []store.State{store.StateCompleted, store.StateDiscarded, store.StateCancelled} {
		p := &store.JobInsertParams{UniqueKey: fmt.Sprintf("key-%d", i), Queue: fmt.Sprintf("q%d", i)}
		j := insert(t, s, at(0), p)
		j = fetchID(t, s, "w", at(0), j.ID, p.Queue)
		finish(t, s, j, store.JobSetStateParams{State: state, Now: at(time.Second)})
		wantInserted(t, s, at(2*time.Second), p, "key of a job "+string(state)+" by its worker")
	}
	p := &store.JobInsertParams{UniqueKey: "cancelled-by-a-person"}
	j := insert(t, s, at(0), p)
	cancel(t, s, j.ID, at(time.Second))
	wantInserted(t, s, at(2*time.Second), p, "key of a pending job cancelled by JobCancel")
}

// "A job holds its key until UniqueUntil if that is set (whatever its
// state, so a completed job still blocks duplicates within the window)":
// held while now < UniqueUntil, free from UniqueUntil on.
func testUniqueUntilHoldsAfterCompletion(t *testing.T, s store.Store) {
	p := &store.JobInsertParams{UniqueKey: "daily-report", UniqueUntil: at(time.Hour)}
	j := insert(t, s, at(0), p)
	r := fetchID(t, s, "w", at(time.Minute), j.ID, "default")
	finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(2 * time.Minute)})
	wantDuplicateOf(t, s, at(3*time.Minute), p, j, "key of a completed job within its UniqueUntil window")
	wantDuplicateOf(t, s, at(time.Hour-time.Microsecond), p, j, "key a microsecond before UniqueUntil")
	wantInserted(t, s, at(time.Hour), p, "key at UniqueUntil (the window is over)")
}

// UniqueUntil bounds the key "whatever its state": a job still pending
// after its window no longer blocks a new one.
func testUniqueUntilExpiresWhileJobPending(t *testing.T, s store.Store) {
	p := &store.JobInsertParams{UniqueKey: "k", UniqueUntil: at(time.Hour), RunAt: at(2 * time.Hour)}
	j := insert(t, s, at(0), p)
	wantDuplicateOf(t, s, at(30*time.Minute), p, j, "key of a scheduled job within its window")
	k := wantInserted(t, s, at(time.Hour+time.Second), &store.JobInsertParams{UniqueKey: "k"},
		"key of a job still scheduled but past its UniqueUntil")
	wantState(t, "the first job, after its key was taken over", get(t, s, j.ID), store.StateScheduled)
	wantDuplicateOf(t, s, at(time.Hour+2*time.Second), &store.JobInsertParams{UniqueKey: "k"}, k,
		"key now held by the second job (zero UniqueUntil, not finalized)")
}

// A deleted job is not live: its key is free (a Duplicate result must be
// able to carry the existing job).
func testUniqueDeletedJobFreesKey(t *testing.T, s store.Store) {
	p := &store.JobInsertParams{UniqueKey: "k", UniqueUntil: at(time.Hour)}
	j := insert(t, s, at(0), p)
	if _, err := s.JobDelete(t.Context(), j.ID); err != nil {
		t.Fatalf("JobDelete(%d): %v", j.ID, err)
	}
	wantInserted(t, s, at(time.Second), p, "key of a deleted job")
}

// Concurrent inserts of one key insert it once: the others are Duplicates
// of that job.
func testUniqueConcurrentDuplicatesInsertOnce(t *testing.T, s store.Store) {
	const goroutines = 8
	res := make([]store.JobInsertResult, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			r, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{
				Now:  at(0),
				Jobs: []*store.JobInsertParams{withDefaults(&store.JobInsertParams{UniqueKey: "once"})},
			})
			if err == nil && len(r) != 1 {
				err = fmt.Errorf("%d results for one job", len(r))
			}
			if err != nil {
				errs[g] = err
				return
			}
			res[g] = r[0]
		})
	}
	wg.Wait()
	inserted := 0
	for g := range goroutines {
		if errs[g] != nil {
			t.Fatalf("concurrent JobInsertMany %d of one unique key: %v", g, errs[g])
		}
		if !res[g].Duplicate {
			inserted++
		}
		if res[g].Job.ID != res[0].Job.ID {
			t.Fatalf("concurrent inserts of one unique key returned jobs %d and %d, want the same job", res[0].Job.ID, res[g].Job.ID)
		}
	}
	if inserted != 1 {
		t.Fatalf("%d concurrent inserts of one unique key inserted %d jobs, want 1 (the rest Duplicates)", goroutines, inserted)
	}
	if n := len(list(t, s, store.JobListParams{Limit: 100})); n != 1 {
		t.Fatalf("after concurrent inserts of one key: %d jobs stored, want 1", n)
	}
}
