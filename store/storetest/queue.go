package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func deleteFinalizedTests() []test {
	return []test{
		{"OnlyStateAndBefore", testDeleteFinalizedOnlyStateAndBefore},
		{"DeletesInBatchesUntilZero", testDeleteFinalizedInBatches},
	}
}

// deleteFinalized calls JobDeleteFinalized.
func deleteFinalized(t *testing.T, s store.Store, state store.State, before time.Time, limit int) int {
	t.Helper()
	n, err := s.JobDeleteFinalized(t.Context(), &store.JobDeleteFinalizedParams{State: state, Before: before, Limit: limit})
	if err != nil {
		t.Fatalf("JobDeleteFinalized(%s, before %s, limit %d): %v", state, clock(before), limit, err)
	}
	return n
}

// "JobDeleteFinalized deletes up to Limit jobs in State (a final state)
// whose FinalizedAt is before Before": not other states, not FinalizedAt
// at or after Before.
func testDeleteFinalizedOnlyStateAndBefore(t *testing.T, s store.Store) {
	old1 := finalized(t, s, "default", store.StateCompleted, at(time.Minute))
	old2 := finalized(t, s, "default", store.StateCompleted, at(2*time.Minute))
	boundary := finalized(t, s, "default", store.StateCompleted, at(3*time.Minute))
	recent := finalized(t, s, "default", store.StateCompleted, at(4*time.Minute))
	discarded := finalized(t, s, "default", store.StateDiscarded, at(time.Minute))
	cancelled := finalized(t, s, "default", store.StateCancelled, at(time.Minute))
	pending := insert(t, s, at(0), &store.JobInsertParams{Queue: "pending"})

	if n := deleteFinalized(t, s, store.StateCompleted, at(3*time.Minute), 100); n != 2 {
		t.Fatalf("JobDeleteFinalized(completed, before base+3m) deleted %d, want 2 (finalized at +1m and +2m)", n)
	}
	for _, j := range []*store.Job{old1, old2} {
		_, err := s.JobGet(t.Context(), j.ID)
		wantErrIs(t, "JobGet of a deleted old completed job", err, store.ErrNotFound)
	}
	for _, j := range []*store.Job{boundary, recent, discarded, cancelled, pending} {
		wantUnchanged(t, s, "job JobDeleteFinalized(completed, before base+3m) must keep", j)
	}
	if n := deleteFinalized(t, s, store.StateDiscarded, at(time.Hour), 100); n != 1 {
		t.Fatalf("JobDeleteFinalized(discarded) deleted %d, want 1", n)
	}
	if n := deleteFinalized(t, s, store.StateCancelled, at(time.Hour), 100); n != 1 {
		t.Fatalf("JobDeleteFinalized(cancelled) deleted %d, want 1", n)
	}
	wantSameIDs(t, "jobs left", jobIDs(list(t, s, store.JobListParams{Limit: 10})), []int64{boundary.ID, recent.ID, pending.ID})
}

// "up to Limit ... and returns how many": a retention cleaner calls it
// until it returns 0.
func testDeleteFinalizedInBatches(t *testing.T, s store.Store) {
	insertN(t, s, at(0), 5, &store.JobInsertParams{})
	for _, j := range fetch(t, s, "w", at(0), 5) {
		finish(t, s, j, store.JobSetStateParams{State: store.StateCompleted, Now: at(time.Second)})
	}
	for i, want := range []int{2, 2, 1, 0} {
		if n := deleteFinalized(t, s, store.StateCompleted, at(time.Hour), 2); n != want {
			t.Fatalf("JobDeleteFinalized(Limit 2) call %d over 5 completed jobs deleted %d, want %d", i+1, n, want)
		}
	}
	if n := len(list(t, s, store.JobListParams{Limit: 10})); n != 0 {
		t.Fatalf("%d jobs left after deleting every completed job", n)
	}
}

func queueTests() []test {
	return []test{
		{"PausedIsNotFetchedUntilResumed", testQueuePauseResume},
		{"PauseAndResumeAreIdempotent", testQueuePauseResumeIdempotent},
		{"PausedEmptyQueueIsListed", testQueuePausedEmptyQueueIsListed},
		{"RunningJobsFinishWhilePaused", testQueueRunningJobsFinishWhilePaused},
	}
}

// "QueuePause stops JobFetch from returning jobs of the queue";
// "QueueResume undoes QueuePause".
func testQueuePauseResume(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{Queue: "q"})
	pause(t, s, "q")
	fetchNone(t, s, at(time.Second), "q")
	if !stat(t, s, at(time.Second), "q").Paused {
		t.Fatalf("QueueStats shows paused queue q with Paused false")
	}
	// Jobs still go in while paused, and wait.
	k := insert(t, s, at(time.Second), &store.JobInsertParams{Queue: "q"})
	fetchNone(t, s, at(2*time.Second), "q")
	resume(t, s, "q")
	if stat(t, s, at(3*time.Second), "q").Paused {
		t.Fatalf("QueueStats shows resumed queue q with Paused true")
	}
	wantSameIDs(t, "JobFetch of the resumed queue", jobIDs(fetch(t, s, "w", at(3*time.Second), 10, "q")), []int64{j.ID, k.ID})
}

// "Pausing a paused or unknown queue is fine"; "Resuming a queue that is
// not paused is fine".
func testQueuePauseResumeIdempotent(t *testing.T, s store.Store) {
	resume(t, s, "never-paused")
	insert(t, s, at(0), &store.JobInsertParams{Queue: "q"})
	pause(t, s, "q")
	pause(t, s, "q")
	fetchNone(t, s, at(time.Second), "q")
	resume(t, s, "q")
	resume(t, s, "q")
	fetchOne(t, s, "w", at(time.Second), "q")
}

// "a paused queue is listed by QueueStats even with no jobs"; once resumed
// (no jobs, not paused) it is not listed.
func testQueuePausedEmptyQueueIsListed(t *testing.T, s store.Store) {
	pause(t, s, "empty")
	st := stats(t, s, at(0))
	if len(st) != 1 || st[0].Name != "empty" || !st[0].Paused {
		t.Fatalf("QueueStats after pausing the unknown queue \"empty\" = %s, want one paused entry \"empty\"", statsString(st))
	}
	wantCounts(t, "paused empty queue", st[0], map[store.State]int64{})
	wantTime(t, "OldestAvailableAt of an empty queue", st[0].OldestAvailableAt, time.Time{})
	resume(t, s, "empty")
	if st := stats(t, s, at(0)); len(st) != 0 {
		t.Fatalf("QueueStats after resuming the empty queue = %s, want no entry (no jobs, not paused)", statsString(st))
	}
}

// "jobs already running finish": pausing does not stop heartbeats or
// completions.
func testQueueRunningJobsFinishWhilePaused(t *testing.T, s store.Store) {
	r := running(t, s, "q", "w", at(0), &store.JobInsertParams{})
	pause(t, s, "q")
	if hb := heartbeat(t, s, "w", at(time.Minute)); hb.Extended != 1 {
		t.Fatalf("JobHeartbeat of a job of a paused queue extended %d leases, want 1", hb.Extended)
	}
	r.LeaseExpiresAt = at(time.Minute)
	j := finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(time.Second)})
	wantState(t, "job of a paused queue completed by its worker", j, store.StateCompleted)
}

func queueStatsTests() []test {
	return []test{
		{"OneEntryPerQueueSortedByName", testQueueStatsSortedByName},
		{"CountsEveryStateDueCountsAsAvailable", testQueueStatsCounts},
		{"OldestAvailableAtIsZeroWhenNothingFetchable", testQueueStatsOldestZero},
		{"WaitingIsCountedNotAvailable", testQueueStatsWaiting},
	}
}

// Waiting jobs have their own count ("Counts has an entry for every
// state"), whatever their RunAt: they cannot be fetched, so they are not
// available and do not set OldestAvailableAt. Released, they count as
// available.
func testQueueStatsWaiting(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(time.Minute),
		&store.JobInsertParams{Queue: "q"},
		&store.JobInsertParams{Queue: "q", After: []int{0}},
		&store.JobInsertParams{Queue: "q", After: []int{0}, RunAt: at(0)},
		&store.JobInsertParams{Queue: "q", After: []int{0}, RunAt: at(time.Hour)},
		&store.JobInsertParams{Queue: "later", After: []int{0}},
	)
	q := stat(t, s, at(2*time.Hour), "q")
	wantCounts(t, "queue q with three waiting jobs", q, map[store.State]int64{store.StateAvailable: 1, store.StateWaiting: 3})
	wantTime(t, "OldestAvailableAt of q (the dependency's RunAt)", q.OldestAvailableAt, at(time.Minute))
	wantCounts(t, "queue later, with only a waiting job", stat(t, s, at(2*time.Hour), "later"), map[store.State]int64{store.StateWaiting: 1})

	r := fetchID(t, s, "w", at(2*time.Hour), jobs[0].ID, "q")
	finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(2 * time.Hour)})
	q = stat(t, s, at(2*time.Hour), "q")
	wantCounts(t, "queue q once the dependency completed", q, map[store.State]int64{store.StateAvailable: 3, store.StateCompleted: 1})
	wantTime(t, "OldestAvailableAt of q (released at the completion)", q.OldestAvailableAt, at(2*time.Hour))
}

// wantCounts fails unless q.Counts has an entry for every state, equal to
// want (missing from want: zero).
func wantCounts(t *testing.T, what string, q *store.QueueStat, want map[store.State]int64) {
	t.Helper()
	for _, state := range store.States {
		got, ok := q.Counts[state]
		if !ok {
			t.Fatalf("%s: QueueStat %q has no count for state %s; want every state, zero included (Counts = %v)",
				what, q.Name, state, q.Counts)
		}
		if got != want[state] {
			t.Fatalf("%s: QueueStat %q counts %d %s jobs, want %d (Counts = %v)", what, q.Name, got, state, want[state], q.Counts)
		}
	}
}

func statsString(st []*store.QueueStat) string {
	out := "["
	for i, q := range st {
		if i > 0 {
			out += ", "
		}
		out += q.Name
		if q.Paused {
			out += " (paused)"
		}
	}
	return out + "]"
}

// "QueueStats returns one entry per queue that has jobs or is paused,
// sorted by name": a queue with only finalized jobs has jobs.
func testQueueStatsSortedByName(t *testing.T, s store.Store) {
	if st := stats(t, s, at(0)); len(st) != 0 {
		t.Fatalf("QueueStats of an empty store = %s, want none", statsString(st))
	}
	insert(t, s, at(0), &store.JobInsertParams{Queue: "charlie"})
	insert(t, s, at(0), &store.JobInsertParams{Queue: "alpha", RunAt: at(time.Hour)})
	finalized(t, s, "bravo", store.StateCompleted, at(0))
	insert(t, s, at(0), &store.JobInsertParams{Queue: "alpha"})
	pause(t, s, "delta")
	pause(t, s, "charlie")

	st := stats(t, s, at(time.Second))
	var names []string
	for _, q := range st {
		names = append(names, q.Name)
	}
	if !slices.Equal(names, []string{"alpha", "bravo", "charlie", "delta"}) {
		t.Fatalf("QueueStats = %s, want [alpha bravo charlie (paused) delta (paused)]", statsString(st))
	}
	for i, paused := range []bool{false, false, true, true} {
		if st[i].Paused != paused {
			t.Fatalf("QueueStats = %s, want [alpha bravo charlie (paused) delta (paused)]", statsString(st))
		}
	}
	wantCounts(t, "alpha", st[0], map[store.State]int64{store.StateAvailable: 1, store.StateScheduled: 1})
	wantCounts(t, "bravo", st[1], map[store.State]int64{store.StateCompleted: 1})
}

// "Counts has an entry for every state (zero included). Its available
// count includes scheduled and retryable jobs already due at Now (they can
// be fetched), and its scheduled and retryable counts hold only those not
// yet due. OldestAvailableAt is the smallest RunAt among jobs that can be
// fetched now." Another queue's jobs do not count.
func testQueueStatsCounts(t *testing.T, s store.Store) {
	// Five jobs to run, and scheduled jobs not due at the fetch.
	toRun := insertN(t, s, at(0), 5, &store.JobInsertParams{Queue: "q"})
	insert(t, s, at(0), &store.JobInsertParams{Queue: "q", RunAt: at(5 * time.Second)}) // due at the stats
	insert(t, s, at(0), &store.JobInsertParams{Queue: "q", RunAt: at(2 * time.Hour)})   // not due
	jobs := fetch(t, s, "w", at(0), 10, "q")
	wantSameIDs(t, "JobFetch of q's available jobs", jobIDs(jobs), jobIDs(toRun))
	// jobs[0] stays running.
	finish(t, s, jobs[1], store.JobSetStateParams{State: store.StateRetryable, Now: at(time.Second), RunAt: at(45 * time.Minute)}) // due
	finish(t, s, jobs[2], store.JobSetStateParams{State: store.StateRetryable, Now: at(time.Second), RunAt: at(2 * time.Hour)})    // not due
	finish(t, s, jobs[3], store.JobSetStateParams{State: store.StateCompleted, Now: at(time.Second)})
	finish(t, s, jobs[4], store.JobSetStateParams{State: store.StateDiscarded, Now: at(time.Second)})
	c := insert(t, s, at(0), &store.JobInsertParams{Queue: "q", RunAt: at(time.Hour)})
	cancel(t, s, c.ID, at(time.Second))
	insertN(t, s, at(time.Minute), 2, &store.JobInsertParams{Queue: "q"})
	insertN(t, s, at(0), 3, &store.JobInsertParams{Queue: "other"})

	q := stat(t, s, at(time.Hour), "q")
	wantCounts(t, "queue q at base+1h", q, map[store.State]int64{
		store.StateAvailable: 4, // two available, the due scheduled job and the due retryable job
		store.StateScheduled: 1,
		store.StateRunning:   1,
		store.StateRetryable: 1,
		store.StateCompleted: 1,
		store.StateDiscarded: 1,
		store.StateCancelled: 1,
	})
	wantTime(t, "OldestAvailableAt of q (the due scheduled job's RunAt)", q.OldestAvailableAt, at(5*time.Second))
	if q.Paused {
		t.Fatalf("QueueStats shows queue q paused; nobody paused it")
	}

	// At base+30m the retryable job is not due yet.
	mid := stat(t, s, at(30*time.Minute), "q")
	wantCounts(t, "queue q at base+30m", mid, map[store.State]int64{
		store.StateAvailable: 3, store.StateScheduled: 1, store.StateRunning: 1, store.StateRetryable: 2,
		store.StateCompleted: 1, store.StateDiscarded: 1, store.StateCancelled: 1,
	})
	wantCounts(t, "queue other", stat(t, s, at(time.Hour), "other"), map[store.State]int64{store.StateAvailable: 3})
}

// "zero when there are none": running and not-yet-due jobs cannot be
// fetched.
func testQueueStatsOldestZero(t *testing.T, s store.Store) {
	running(t, s, "q", "w", at(0), &store.JobInsertParams{})
	insert(t, s, at(0), &store.JobInsertParams{Queue: "q", RunAt: at(time.Hour)})
	q := stat(t, s, at(time.Minute), "q")
	wantTime(t, "OldestAvailableAt of a queue with nothing fetchable", q.OldestAvailableAt, time.Time{})
	wantCounts(t, "queue q", q, map[store.State]int64{store.StateRunning: 1, store.StateScheduled: 1})
	// Once the scheduled job is due, it is the oldest available.
	wantTime(t, "OldestAvailableAt once the scheduled job is due", stat(t, s, at(2*time.Hour), "q").OldestAvailableAt, at(time.Hour))
}
