package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func heartbeatTests() []test {
	return []test{
		{"ExtendsOnlyOwnersRunningLeases", testHeartbeatExtendsOnlyOwners},
		{"ReportsCancelRequested", testHeartbeatReportsCancelRequested},
		{"NoRunningJobs", testHeartbeatNoRunningJobs},
	}
}

// "JobHeartbeat extends the lease of every job Owner is running to
// LeaseExpiresAt": not other owners' leases, not jobs no longer running;
// the extended jobs are not rescued when their first lease would have
// expired, the others are.
func testHeartbeatExtendsOnlyOwners(t *testing.T, s store.Store) {
	insertN(t, s, at(0), 3, &store.JobInsertParams{Queue: "a"})
	insertN(t, s, at(0), 1, &store.JobInsertParams{Queue: "b"})
	mine := fetch(t, s, "owner-a", at(0), 3, "a")
	theirs := fetchOne(t, s, "owner-b", at(0), "b")
	if len(mine) != 3 {
		t.Fatalf("JobFetch(Limit 3) of 3 available jobs returned %d", len(mine))
	}
	done := finish(t, s, mine[2], store.JobSetStateParams{State: store.StateCompleted, Now: at(time.Second)})

	r := heartbeat(t, s, "owner-a", at(5*time.Minute))
	if r.Extended != 2 {
		t.Fatalf("JobHeartbeat(owner-a) Extended = %d, want 2 (owner-a's running jobs; its third is completed)", r.Extended)
	}
	if len(r.CancelRequested) != 0 {
		t.Fatalf("JobHeartbeat CancelRequested = %v, want none (nobody asked)", r.CancelRequested)
	}
	for _, j := range mine[:2] {
		got := get(t, s, j.ID)
		wantState(t, "owner-a's job after the heartbeat", got, store.StateRunning)
		wantTime(t, "owner-a's LeaseExpiresAt after the heartbeat", got.LeaseExpiresAt, at(5*time.Minute))
		if got.LeaseOwner != "owner-a" {
			t.Fatalf("heartbeat changed LeaseOwner of job %d to %q", j.ID, got.LeaseOwner)
		}
	}
	wantUnchanged(t, s, "owner-b's job after owner-a's heartbeat", theirs)
	wantUnchanged(t, s, "owner-a's completed job after its heartbeat", done)

	if n := rescue(t, s, at(time.Minute), 10); n != 1 {
		t.Fatalf("JobRescue after owner-b's lease expired (owner-a's extended) rescued %d, want 1", n)
	}
	wantState(t, "owner-b's expired job", get(t, s, theirs.ID), store.StateAvailable)
	for _, j := range mine[:2] {
		wantState(t, "owner-a's heartbeated job after the rescue", get(t, s, j.ID), store.StateRunning)
	}
}

// "...and reports which of them a person asked to cancel": only Owner's.
func testHeartbeatReportsCancelRequested(t *testing.T, s store.Store) {
	insertN(t, s, at(0), 3, &store.JobInsertParams{})
	mine := fetch(t, s, "owner-a", at(0), 2)
	theirs := fetchOne(t, s, "owner-b", at(0))
	cancel(t, s, mine[1].ID, at(time.Second))
	cancel(t, s, theirs.ID, at(time.Second))

	r := heartbeat(t, s, "owner-a", at(time.Minute))
	if r.Extended != 2 {
		t.Fatalf("JobHeartbeat Extended = %d, want 2 (a job asked to cancel is still running)", r.Extended)
	}
	if !slices.Equal(r.CancelRequested, []int64{mine[1].ID}) {
		t.Fatalf("JobHeartbeat(owner-a) CancelRequested = %v, want [%d] (owner-a's job asked to cancel, not owner-b's %d)",
			r.CancelRequested, mine[1].ID, theirs.ID)
	}
	wantTime(t, "LeaseExpiresAt of the job asked to cancel", get(t, s, mine[1].ID).LeaseExpiresAt, at(time.Minute))
}

// An owner with nothing running extends nothing.
func testHeartbeatNoRunningJobs(t *testing.T, s store.Store) {
	insert(t, s, at(0), &store.JobInsertParams{})
	r := heartbeat(t, s, "idle", at(time.Minute))
	if r.Extended != 0 || len(r.CancelRequested) != 0 {
		t.Fatalf("JobHeartbeat of an owner running nothing = %+v, want nothing extended or reported", r)
	}
}

func rescueTests() []test {
	return []test{
		{"ExpiredLeaseRunsAgainAsNextAttempt", testRescueExpiredLease},
		{"UnexpiredLeaseUntouched", testRescueUnexpiredLeaseUntouched},
		{"OutOfAttemptsIsDiscarded", testRescueOutOfAttemptsIsDiscarded},
		{"CancelRequestedIsCancelled", testRescueCancelRequestedIsCancelled},
		{"LimitRespected", testRescueLimitRespected},
	}
}

// A job whose lease "expired before Now" gets "an AttemptError saying so
// (the attempt counts)" and becomes "available at Now"; "The lease fields
// are cleared." Its next fetch is attempt 2.
func testRescueExpiredLease(t *testing.T, s store.Store) {
	r := running(t, s, "default", "dead-worker", at(0), &store.JobInsertParams{})
	now := at(lease + time.Microsecond)
	if n := rescue(t, s, now, 10); n != 1 {
		t.Fatalf("JobRescue a microsecond after the lease expired rescued %d, want 1", n)
	}
	j := get(t, s, r.ID)
	wantState(t, "rescued job", j, store.StateAvailable)
	wantTime(t, "RunAt of the rescued job", j.RunAt, now)
	wantAttempt(t, "rescued job", j, 1)
	wantLeaseCleared(t, "rescued job", j)
	wantTime(t, "FinalizedAt of the rescued job", j.FinalizedAt, time.Time{})
	if len(j.Errors) != 1 {
		t.Fatalf("rescued job has %d errors, want 1 saying its lease expired", len(j.Errors))
	}
	wantError(t, "rescued job: Errors[0]", j.Errors[0], 1, now, "")

	again := fetchID(t, s, "new-worker", now, r.ID, "default")
	wantAttempt(t, "fetch after the rescue", again, 2)
}

// A lease that expires at or after Now is not rescued, and jobs that are
// not running are never touched.
func testRescueUnexpiredLeaseUntouched(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	pending := insert(t, s, at(0), &store.JobInsertParams{Queue: "other"})
	scheduled := insert(t, s, at(0), &store.JobInsertParams{Queue: "other", RunAt: at(time.Hour)})
	done := finalized(t, s, "done", store.StateCompleted, at(0))
	for _, now := range []time.Time{at(time.Second), at(lease)} {
		if n := rescue(t, s, now, 10); n != 0 {
			t.Fatalf("JobRescue at %s rescued %d jobs; the only lease expires at %s, so want 0", clock(now), n, clock(at(lease)))
		}
	}
	wantUnchanged(t, s, "running job with a live lease after JobRescue", r)
	wantUnchanged(t, s, "available job after JobRescue", pending)
	wantUnchanged(t, s, "scheduled job after JobRescue", scheduled)
	wantUnchanged(t, s, "completed job after JobRescue", done)
}

// "discarded if Attempt >= MaxAttempts", finalized at Now, the error kept.
func testRescueOutOfAttemptsIsDiscarded(t *testing.T, s store.Store) {
	j := insert(t, s, at(0), &store.JobInsertParams{MaxAttempts: 2})
	fetchID(t, s, "w", at(0), j.ID, "default")
	rescue(t, s, at(time.Minute), 10)
	r := fetchID(t, s, "w", at(time.Minute), j.ID, "default")
	wantAttempt(t, "second fetch", r, 2)
	now := at(time.Hour)
	if n := rescue(t, s, now, 10); n != 1 {
		t.Fatalf("JobRescue of the job's last attempt rescued %d, want 1", n)
	}
	j = get(t, s, j.ID)
	wantState(t, "job rescued at Attempt == MaxAttempts", j, store.StateDiscarded)
	wantTime(t, "FinalizedAt of the discarded job", j.FinalizedAt, now)
	wantLeaseCleared(t, "discarded job", j)
	if len(j.Errors) != 2 {
		t.Fatalf("job rescued twice has %d errors, want 2", len(j.Errors))
	}
	wantError(t, "Errors[0]", j.Errors[0], 1, at(time.Minute), "")
	wantError(t, "Errors[1]", j.Errors[1], 2, now, "")
	fetchNone(t, s, at(2*time.Hour))
}

// "becomes cancelled if cancellation was requested" (before the attempt
// check: this job is out of attempts too).
func testRescueCancelRequestedIsCancelled(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{MaxAttempts: 1})
	cancel(t, s, r.ID, at(time.Second))
	now := at(time.Minute)
	if n := rescue(t, s, now, 10); n != 1 {
		t.Fatalf("JobRescue of an expired job asked to cancel rescued %d, want 1", n)
	}
	j := get(t, s, r.ID)
	wantState(t, "rescued job that was asked to cancel", j, store.StateCancelled)
	wantTime(t, "FinalizedAt of the cancelled job", j.FinalizedAt, now)
	wantLeaseCleared(t, "cancelled job", j)
	if len(j.Errors) != 1 {
		t.Fatalf("rescued cancelled job has %d errors, want 1", len(j.Errors))
	}
	wantError(t, "Errors[0]", j.Errors[0], 1, now, "")
}

// "handles up to Limit running jobs ... It returns how many it rescued":
// repeated calls rescue the rest.
func testRescueLimitRespected(t *testing.T, s store.Store) {
	insertN(t, s, at(0), 5, &store.JobInsertParams{})
	fetch(t, s, "w", at(0), 5)
	for i, want := range []int{2, 2, 1, 0} {
		if n := rescue(t, s, at(time.Minute), 2); n != want {
			t.Fatalf("JobRescue(Limit 2) call %d of 5 expired jobs rescued %d, want %d", i+1, n, want)
		}
	}
	if n := len(list(t, s, store.JobListParams{States: []store.State{store.StateAvailable}, Limit: 10})); n != 5 {
		t.Fatalf("after the rescues %d jobs are available, want all 5", n)
	}
}
