package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func setStateTests() []test {
	return []test{
		{"CompletedIsFinalWithResult", testSetStateCompleted},
		{"DiscardedAndCancelledAreFinal", testSetStateDiscardedAndCancelled},
		{"RetryableIsDueAtRunAt", testSetStateRetryable},
		{"SnoozeIsScheduledAndNotAnAttempt", testSetStateSnooze},
		{"ReleaseIsAvailableAndNotAnAttempt", testSetStateRelease},
		{"ErrorsKeepEveryAttemptInOrder", testSetStateErrorsKeepEveryAttempt},
		{"GuardRefusesWrongOwner", testSetStateGuardWrongOwner},
		{"GuardRefusesWrongAttempt", testSetStateGuardWrongAttempt},
		{"GuardRefusesJobNotRunning", testSetStateGuardNotRunning},
		{"LateCompletionAfterRescueIsRefused", testSetStateLateCompletionAfterRescue},
		{"MixedBatchReturnsResultsInOrder", testSetStateMixedBatch},
		{"EmptyBatch", testSetStateEmptyBatch},
	}
}

// running inserts a job into queue and fetches it as owner at now.
func running(t *testing.T, s store.Store, queue, owner string, now time.Time, p *store.JobInsertParams) *store.Job {
	t.Helper()
	c := *p
	c.Queue = queue
	j := insert(t, s, now, &c)
	return fetchID(t, s, owner, now, j.ID, queue)
}

// "completed ...: final; FinalizedAt = Now"; "Result, when set, is
// stored"; "The lease fields are cleared"; the attempt stays counted.
func testSetStateCompleted(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{Args: json.RawMessage(`{"in":1}`)})
	result := json.RawMessage(`{"rows": 3, "ok": true}`)
	j := finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(2 * time.Second), Result: result})
	want := *r
	want.State, want.FinalizedAt, want.Result = store.StateCompleted, at(2*time.Second), result
	want.LeaseOwner, want.LeaseExpiresAt = "", time.Time{}
	wantJob(t, "completed job", j, &want)

	// Without a Result, none is stored.
	r = running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	j = finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(3 * time.Second)})
	if !jsonEqual(j.Result, nil) || len(j.Errors) != 0 {
		t.Fatalf("job completed without Result or Error has Result %s and %d errors, want none", j.Result, len(j.Errors))
	}
}

// "discarded, cancelled: final; FinalizedAt = Now"; "Error, when set, is
// appended to the job's Errors".
func testSetStateDiscardedAndCancelled(t *testing.T, s store.Store) {
	for _, state := range []store.State{store.StateDiscarded, store.StateCancelled} {
		r := running(t, s, string(state), "w", at(0), &store.JobInsertParams{})
		e := &store.AttemptError{Attempt: 1, At: at(time.Second), Error: "permanent: " + string(state)}
		j := finish(t, s, r, store.JobSetStateParams{State: state, Now: at(2 * time.Second), Error: e})
		what := string(state) + " job"
		wantState(t, what, j, state)
		wantTime(t, what+": FinalizedAt", j.FinalizedAt, at(2*time.Second))
		wantLeaseCleared(t, what, j)
		wantAttempt(t, what, j, 1)
		if len(j.Errors) != 1 {
			t.Fatalf("%s: %d errors stored, want the 1 given", what, len(j.Errors))
		}
		wantError(t, what+": Errors[0]", j.Errors[0], 1, at(time.Second), e.Error)
	}
}

// "retryable: due again at RunAt"; not final; lease cleared; error kept.
func testSetStateRetryable(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	j := finish(t, s, r, store.JobSetStateParams{
		State: store.StateRetryable, Now: at(time.Second), RunAt: at(5 * time.Minute),
		Error: &store.AttemptError{Attempt: 1, At: at(time.Second), Error: "timeout"},
	})
	wantState(t, "failed job", j, store.StateRetryable)
	wantTime(t, "RunAt of the retryable job", j.RunAt, at(5*time.Minute))
	wantTime(t, "FinalizedAt of the retryable job", j.FinalizedAt, time.Time{})
	wantLeaseCleared(t, "retryable job", j)
	wantAttempt(t, "retryable job", j, 1)
	if len(j.Errors) != 1 {
		t.Fatalf("retryable job has %d errors, want 1", len(j.Errors))
	}
	wantError(t, "retryable job: Errors[0]", j.Errors[0], 1, at(time.Second), "timeout")
}

// "scheduled (a snooze): due at RunAt"; "UndoAttempt decrements Attempt (a
// snooze ... is not an attempt)": a job with one attempt can be snoozed
// again and again and still run.
func testSetStateSnooze(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{MaxAttempts: 1})
	for i := range 3 {
		now := at(time.Duration(i) * time.Hour)
		j := finish(t, s, r, store.JobSetStateParams{
			State: store.StateScheduled, Now: now, RunAt: now.Add(time.Hour), UndoAttempt: true,
		})
		what := fmt.Sprintf("snooze %d", i+1)
		wantState(t, what, j, store.StateScheduled)
		wantTime(t, what+": RunAt", j.RunAt, now.Add(time.Hour))
		wantAttempt(t, what, j, 0)
		wantLeaseCleared(t, what, j)
		wantTime(t, what+": FinalizedAt", j.FinalizedAt, time.Time{})
		fetchNone(t, s, now.Add(time.Hour-time.Microsecond))
		r = fetchID(t, s, "w", now.Add(time.Hour), j.ID, "default")
		wantAttempt(t, "fetch after "+what, r, 1)
	}
}

// "available (a release, for example at shutdown)... due at RunAt",
// UndoAttempt: the released job is fetched at once, as the same attempt.
func testSetStateRelease(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	j := finish(t, s, r, store.JobSetStateParams{
		State: store.StateAvailable, Now: at(3 * time.Second), RunAt: at(3 * time.Second), UndoAttempt: true,
	})
	wantState(t, "released job", j, store.StateAvailable)
	wantTime(t, "RunAt of the released job", j.RunAt, at(3*time.Second))
	wantAttempt(t, "released job", j, 0)
	wantLeaseCleared(t, "released job", j)
	again := fetchID(t, s, "other", at(3*time.Second), j.ID, "default")
	wantAttempt(t, "fetch after the release", again, 1)
}

// "each attempt's error is kept on the job": a job failing until out of
// attempts, driven as a worker drives it (fetch, fail with backoff, and
// discard when Attempt reaches MaxAttempts), keeps every error in order.
func testSetStateErrorsKeepEveryAttempt(t *testing.T, s store.Store) {
	const maxAttempts = 3
	j := insert(t, s, at(0), &store.JobInsertParams{MaxAttempts: maxAttempts})
	now := at(0)
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		r := fetchID(t, s, "w", now, j.ID, "default")
		wantAttempt(t, "fetch", r, attempt)
		e := &store.AttemptError{Attempt: attempt, At: now.Add(time.Second), Error: fmt.Sprintf("failure %d", attempt)}
		p := store.JobSetStateParams{State: store.StateRetryable, Now: e.At, RunAt: now.Add(time.Minute), Error: e}
		if r.Attempt >= r.MaxAttempts {
			p.State, p.RunAt = store.StateDiscarded, time.Time{}
		}
		finish(t, s, r, p)
		now = now.Add(time.Minute)
	}
	j = get(t, s, j.ID)
	wantState(t, "job after its last attempt failed", j, store.StateDiscarded)
	if len(j.Errors) != maxAttempts {
		t.Fatalf("job failed %d times has %d errors, want %d", maxAttempts, len(j.Errors), maxAttempts)
	}
	for i, e := range j.Errors {
		wantError(t, fmt.Sprintf("Errors[%d]", i), e, i+1, at(time.Duration(i)*time.Minute+time.Second), fmt.Sprintf("failure %d", i+1))
	}
	fetchNone(t, s, at(time.Hour))
}

// "each only if it is still running under the given owner": another
// owner's change is refused and the job is unchanged.
func testSetStateGuardWrongOwner(t *testing.T, s store.Store) {
	r := running(t, s, "default", "owner-a", at(0), &store.JobInsertParams{})
	if setState(t, s, &store.JobSetStateParams{
		ID: r.ID, Owner: "owner-b", Attempt: r.Attempt, State: store.StateCompleted, Now: at(time.Second),
	}) {
		t.Fatalf("JobSetStateIfRunningMany applied owner-b's completion to a job running under owner-a, want false")
	}
	wantUnchanged(t, s, "after a refused change by the wrong owner", r)
}

// "...and attempt": a change for another attempt is refused.
func testSetStateGuardWrongAttempt(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	for _, attempt := range []int{0, 2} {
		if setState(t, s, &store.JobSetStateParams{
			ID: r.ID, Owner: "w", Attempt: attempt, State: store.StateCompleted, Now: at(time.Second),
		}) {
			t.Fatalf("JobSetStateIfRunningMany applied a completion for attempt %d to a job running attempt 1, want false", attempt)
		}
	}
	wantUnchanged(t, s, "after refused changes with the wrong attempt", r)
}

// Only running jobs move: a pending job, a finalized job and a job that
// does not exist are refused (false, not an error).
func testSetStateGuardNotRunning(t *testing.T, s store.Store) {
	pending := insert(t, s, at(0), &store.JobInsertParams{Queue: "pending"})
	if setState(t, s, &store.JobSetStateParams{ID: pending.ID, Attempt: 0, State: store.StateCompleted, Now: at(time.Second)}) {
		t.Fatalf("JobSetStateIfRunningMany completed an available job that was never fetched, want false")
	}
	wantUnchanged(t, s, "available job after a refused change", pending)

	r := running(t, s, "done", "w", at(0), &store.JobInsertParams{})
	done := finish(t, s, r, store.JobSetStateParams{State: store.StateCompleted, Now: at(time.Second), Result: json.RawMessage(`1`)})
	if setState(t, s, &store.JobSetStateParams{
		ID: r.ID, Owner: "w", Attempt: 1, State: store.StateRetryable, Now: at(2 * time.Second), RunAt: at(time.Hour),
		Error: &store.AttemptError{Attempt: 1, At: at(2 * time.Second), Error: "late"},
	}) {
		t.Fatalf("JobSetStateIfRunningMany moved a completed job again (same owner and attempt), want false")
	}
	wantUnchanged(t, s, "completed job after a refused second change", done)

	if setState(t, s, &store.JobSetStateParams{ID: r.ID + 1000, Owner: "w", Attempt: 1, State: store.StateCompleted, Now: at(time.Second)}) {
		t.Fatalf("JobSetStateIfRunningMany reported a change applied to job %d, which does not exist", r.ID+1000)
	}
}

// The race the guard exists for: owner A's lease expires, the job is
// rescued and fetched by owner B; A's late completion is refused and the
// job stays B's; B's completion applies.
func testSetStateLateCompletionAfterRescue(t *testing.T, s store.Store) {
	a := running(t, s, "default", "owner-a", at(0), &store.JobInsertParams{})
	if n := rescue(t, s, at(lease+time.Second), 10); n != 1 {
		t.Fatalf("JobRescue after owner-a's lease expired rescued %d jobs, want 1", n)
	}
	b := fetchID(t, s, "owner-b", at(lease+2*time.Second), a.ID, "default")
	wantAttempt(t, "fetch by owner-b after the rescue", b, 2)

	late := []*store.JobSetStateParams{
		{ID: a.ID, Owner: "owner-a", Attempt: 1, State: store.StateCompleted, Now: at(lease + 3*time.Second)},
		{ID: a.ID, Owner: "owner-a", Attempt: 2, State: store.StateCompleted, Now: at(lease + 3*time.Second)},
		{ID: a.ID, Owner: "owner-b", Attempt: 1, State: store.StateCompleted, Now: at(lease + 3*time.Second)},
	}
	for i, p := range late {
		if setState(t, s, p) {
			t.Fatalf("late change %d (owner %q, attempt %d) applied to the job now running attempt 2 under owner-b, want false",
				i, p.Owner, p.Attempt)
		}
	}
	wantUnchanged(t, s, "job running under owner-b after owner-a's late completion", b)

	done := finish(t, s, b, store.JobSetStateParams{State: store.StateCompleted, Now: at(lease + 4*time.Second)})
	wantState(t, "owner-b's completion", done, store.StateCompleted)
}

// "It returns, per entry, whether the change was applied": one call with
// applicable and refused entries answers each, in order, and applies only
// the applicable ones.
func testSetStateMixedBatch(t *testing.T, s store.Store) {
	insertN(t, s, at(0), 4, &store.JobInsertParams{})
	jobs := fetch(t, s, "w", at(0), 4, "default")
	if len(jobs) != 4 {
		t.Fatalf("JobFetch(Limit 4) of 4 available jobs returned %d", len(jobs))
	}
	pending := insert(t, s, at(0), &store.JobInsertParams{Queue: "elsewhere"})
	now := at(time.Second)
	params := []*store.JobSetStateParams{
		{ID: jobs[0].ID, Owner: "w", Attempt: 1, State: store.StateCompleted, Now: now},
		{ID: jobs[1].ID, Owner: "intruder", Attempt: 1, State: store.StateCompleted, Now: now},
		{ID: jobs[2].ID, Owner: "w", Attempt: 1, State: store.StateRetryable, Now: now, RunAt: at(time.Hour)},
		{ID: pending.ID, Owner: "w", Attempt: 0, State: store.StateCompleted, Now: now},
		{ID: jobs[3].ID, Owner: "w", Attempt: 7, State: store.StateCompleted, Now: now},
	}
	got := setStates(t, s, params...)
	want := []bool{true, false, true, false, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("JobSetStateIfRunningMany of a mixed batch returned %v, want %v (entry %d wrong)", got, want, i)
		}
	}
	wantState(t, "entry 0 (applied)", get(t, s, jobs[0].ID), store.StateCompleted)
	wantUnchanged(t, s, "entry 1 (wrong owner)", jobs[1])
	wantState(t, "entry 2 (applied)", get(t, s, jobs[2].ID), store.StateRetryable)
	wantUnchanged(t, s, "entry 3 (not running)", pending)
	wantUnchanged(t, s, "entry 4 (wrong attempt)", jobs[3])
}

// An empty batch is no work, not an error.
func testSetStateEmptyBatch(t *testing.T, s store.Store) {
	if got := setStates(t, s); len(got) != 0 {
		t.Fatalf("JobSetStateIfRunningMany of no entries returned %v, want none", got)
	}
}
