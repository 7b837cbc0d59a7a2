package storetest

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// The Deps group pins store.DepsPolicy and the After, AfterIDs and
// RunOnFailure insert options. Dependencies live in queue "deps" and the
// jobs waiting for them in queue "w", so each fetch is controlled.

func depsTests() []test {
	return []test{
		{"AfterIsWaitingWithDepsInOrder", testDepsAfterIsWaiting},
		{"AfterIDsOfUnfinishedAndCompletedJobs", testDepsAfterIDsUnfinishedAndCompleted},
		{"AfterIDsOfFailedJobsCancelsAtInsert", testDepsAfterIDsFailed},
		{"MissingAfterIDIsErrorInsertsNothing", testDepsMissingAfterID},
		{"AfterIndexNotEarlierIsErrorInsertsNothing", testDepsAfterIndexNotEarlier},
		{"WaitingIsNeverFetched", testDepsWaitingNeverFetched},
		{"EachCompletionCountsLastReleasesAtNow", testDepsEachCompletionCounts},
		{"ReleasedScheduledIfOwnRunAtIsLater", testDepsReleasedScheduled},
		{"DepsFinishingInOneCallCountEach", testDepsOneCallCountsEach},
		{"FailedDepCancelsWaiter", testDepsFailedDepCancelsWaiter},
		{"CancellationCascadesDownAChain", testDepsCascadeChain},
		{"RunOnFailureRunsAfterFailedDeps", testDepsRunOnFailure},
		{"RescueToFinalStateCascades", testDepsRescueCascades},
		{"CancelOfPendingDepCascades", testDepsCancelOfPendingDep},
		{"DeleteOfUnfinishedDepCancelsWaiters", testDepsDeleteOfUnfinishedDep},
		{"CancelOfWaitingJob", testDepsCancelWaiting},
		{"RetryOfWaitingJobRunsItAtOnce", testDepsRetryWaiting},
		{"RetriedDepCountsOnce", testDepsRetriedDepCountsOnce},
		{"ChordOfConcurrentCompletionsReleasesOnce", testDepsChordConcurrent},
	}
}

// dep and waiter are the insert params of a dependency and of a job waiting.
func dep() *store.JobInsertParams { return &store.JobInsertParams{Queue: "deps"} }

func waiter(after ...int) *store.JobInsertParams {
	return &store.JobInsertParams{Queue: "w", After: after}
}

func waiterOf(ids ...int64) *store.JobInsertParams {
	return &store.JobInsertParams{Queue: "w", AfterIDs: ids}
}

// insertJobs inserts ps in one call and returns the new jobs.
func insertJobs(t *testing.T, s store.Store, now time.Time, ps ...*store.JobInsertParams) []*store.Job {
	t.Helper()
	var jobs []*store.Job
	for i, r := range insertMany(t, s, now, ps...) {
		if r.Duplicate {
			t.Fatalf("JobInsertMany: entry %d came back as a Duplicate, want a new job", i)
		}
		jobs = append(jobs, r.Job)
	}
	return jobs
}

// complete finishes running job j as completed at now.
func complete(t *testing.T, s store.Store, j *store.Job, now time.Time) *store.Job {
	t.Helper()
	return finish(t, s, j, store.JobSetStateParams{State: store.StateCompleted, Now: now})
}

// fetchDeps fetches every due job of queue "deps" (the dependencies).
func fetchDeps(t *testing.T, s store.Store, now time.Time) []*store.Job {
	t.Helper()
	return fetch(t, s, "dep-worker", now, 1000, "deps")
}

// byID returns the job of jobs with id.
func byID(t *testing.T, jobs []*store.Job, id int64) *store.Job {
	t.Helper()
	for _, j := range jobs {
		if j.ID == id {
			return j
		}
	}
	t.Fatalf("job %d is not among jobs %v", id, jobIDs(jobs))
	return nil
}

// wantWaiting fails unless j waits with Deps deps (in order) and DepsLeft left.
func wantWaiting(t *testing.T, what string, j *store.Job, deps []int64, left int) {
	t.Helper()
	wantState(t, what, j, store.StateWaiting)
	wantIDs(t, what+": Deps", j.Deps, deps)
	if j.DepsLeft != left {
		t.Fatalf("%s: job %d has DepsLeft %d, want %d", what, j.ID, j.DepsLeft, left)
	}
}

// wantReleased fails unless waiting job j was made available at now
// (RunAt = now), with no dependency left and no attempt yet.
func wantReleased(t *testing.T, what string, j *store.Job, now time.Time) {
	t.Helper()
	wantState(t, what, j, store.StateAvailable)
	wantTime(t, what+": RunAt", j.RunAt, now)
	wantTime(t, what+": FinalizedAt", j.FinalizedAt, time.Time{})
	wantAttempt(t, what, j, 0)
	if j.DepsLeft != 0 {
		t.Fatalf("%s: job %d has DepsLeft %d, want 0", what, j.ID, j.DepsLeft)
	}
}

// mentions reports whether msg contains the number id as a whole number.
func mentions(msg string, id int64) bool {
	return regexp.MustCompile(`(^|[^0-9])` + fmt.Sprint(id) + `([^0-9]|$)`).MatchString(msg)
}

// wantDepCancelled fails unless j was cancelled because dependency depID
// ended in depState: "the waiting job is cancelled at once (FinalizedAt =
// Now, an AttemptError at attempt 0 names the dependency and its state)".
// A zero now (a deletion, which has no Now) only requires the times to be
// set, in UTC; an empty depState does not check the state's name.
func wantDepCancelled(t *testing.T, what string, j *store.Job, depID int64, depState store.State, now time.Time) {
	t.Helper()
	wantState(t, what, j, store.StateCancelled)
	if len(j.Errors) == 0 {
		t.Fatalf("%s: job %d was cancelled with no AttemptError, want one naming dependency %d", what, j.ID, depID)
	}
	e := j.Errors[len(j.Errors)-1]
	if e.Attempt != 0 {
		t.Fatalf("%s: job %d's AttemptError has Attempt %d, want 0 (it never ran)", what, j.ID, e.Attempt)
	}
	if now.IsZero() {
		for name, tm := range map[string]time.Time{"FinalizedAt": j.FinalizedAt, "AttemptError.At": e.At} {
			if tm.IsZero() || tm.Location() != time.UTC {
				t.Fatalf("%s: job %d has %s %s, want a time in UTC", what, j.ID, name, clock(tm))
			}
		}
	} else {
		wantTime(t, what+": FinalizedAt", j.FinalizedAt, now)
		wantTime(t, what+": AttemptError.At", e.At, now)
	}
	if !mentions(e.Error, depID) {
		t.Fatalf("%s: job %d's AttemptError %q does not name dependency %d", what, j.ID, e.Error, depID)
	}
	if depState != "" && !strings.Contains(e.Error, string(depState)) {
		t.Fatalf("%s: job %d's AttemptError %q does not name the dependency's state %q", what, j.ID, e.Error, depState)
	}
}

// wantStill fails unless the stored job equals before in every field but
// DepsLeft, which is only kept while a job waits (the contract does not
// say what it holds once the job stopped waiting).
func wantStill(t *testing.T, s store.Store, what string, before *store.Job) {
	t.Helper()
	var d []string
	for _, line := range jobDiff(get(t, s, before.ID), before) {
		if !strings.HasPrefix(line, "DepsLeft ") {
			d = append(d, line)
		}
	}
	if len(d) > 0 {
		t.Fatalf("%s (the job must be unchanged): job %d differs:\n\t%s", what, before.ID, strings.Join(d, "\n\t"))
	}
}

// "After lists earlier entries of the same JobInsertMany call ... that
// this job waits for: it is inserted waiting and its Deps are their IDs"
// in the order given; "Duplicate indexes count once". The insert's result
// is what JobGet returns; RunOnFailure and Workflow are kept.
func testDepsAfterIsWaiting(t *testing.T, s store.Store) {
	now := at(time.Minute)
	jobs := insertJobs(t, s, now,
		dep(), dep(),
		&store.JobInsertParams{Queue: "w", After: []int{1, 0, 1}, Workflow: "wf"},
		&store.JobInsertParams{Queue: "w", After: []int{2}, RunOnFailure: true, Workflow: "wf"},
	)
	a, b, c, d := jobs[0], jobs[1], jobs[2], jobs[3]
	wantWaiting(t, "job inserted After [1 0 1]", c, []int64{b.ID, a.ID}, 2)
	wantWaiting(t, "job inserted After [2]", d, []int64{c.ID}, 1)
	for _, j := range []*store.Job{c, d} {
		wantTime(t, "EnqueuedAt of a waiting job", j.EnqueuedAt, now)
		wantAttempt(t, "waiting job", j, 0)
		wantJob(t, "JobGet of a waiting job", get(t, s, j.ID), j)
	}
	if c.RunOnFailure || !d.RunOnFailure {
		t.Fatalf("RunOnFailure stored as %v and %v, want false and true (as inserted)", c.RunOnFailure, d.RunOnFailure)
	}
	for _, j := range []*store.Job{a, b} {
		wantState(t, "dependency", j, store.StateAvailable)
		if len(j.Deps) != 0 || j.DepsLeft != 0 {
			t.Fatalf("job %d without dependencies has Deps %v and DepsLeft %d, want none", j.ID, j.Deps, j.DepsLeft)
		}
	}
}

// "AfterIDs lists existing jobs this job waits for, like After. A job that
// is already finalized counts as finished at once": unfinished jobs
// (available, scheduled, running) are counted in DepsLeft, a completed
// one is not; with only completed dependencies the job is available at
// Now at once, or scheduled if its RunAt is later. Mixed with After, Deps
// holds both (their relative order is not pinned).
func testDepsAfterIDsUnfinishedAndCompleted(t *testing.T, s store.Store) {
	avail := insert(t, s, at(0), dep())
	sched := insert(t, s, at(0), &store.JobInsertParams{Queue: "deps", RunAt: at(time.Hour)})
	run := running(t, s, "r", "w0", at(0), &store.JobInsertParams{})
	done := finalized(t, s, "done", store.StateCompleted, at(0))
	now := at(time.Minute)

	w1 := insert(t, s, now, waiterOf(done.ID, avail.ID, sched.ID, run.ID))
	wantWaiting(t, "job after a completed, an available, a scheduled and a running job", w1,
		[]int64{done.ID, avail.ID, sched.ID, run.ID}, 3)

	w2 := insert(t, s, now, waiterOf(done.ID, done.ID))
	wantIDs(t, "Deps of a job after a completed job (given twice)", w2.Deps, []int64{done.ID})
	wantReleased(t, "job after a completed job only", w2, now)
	wantJob(t, "JobGet of the job after a completed job", get(t, s, w2.ID), w2)

	p := waiterOf(done.ID)
	p.RunAt = at(time.Hour)
	w3 := insert(t, s, now, p)
	wantState(t, "job after a completed job, RunAt later", w3, store.StateScheduled)
	wantTime(t, "RunAt of that job", w3.RunAt, at(time.Hour))

	fetchID(t, s, "w", now, w2.ID, "w")
	fetchNone(t, s, at(time.Hour-time.Microsecond), "w")

	jobs := insertJobs(t, s, now, dep(), &store.JobInsertParams{Queue: "w", After: []int{0}, AfterIDs: []int64{avail.ID, done.ID}})
	w4 := jobs[1]
	wantState(t, "job with After and AfterIDs", w4, store.StateWaiting)
	wantSameIDs(t, "Deps of a job with After [0] and AfterIDs", w4.Deps, []int64{jobs[0].ID, avail.ID, done.ID})
	if w4.DepsLeft != 2 {
		t.Fatalf("job with After [0] and AfterIDs [available, completed] has DepsLeft %d, want 2", w4.DepsLeft)
	}
}

// A finalized dependency counts as "failed if discarded or cancelled": the
// job is inserted cancelled at once (and a job of the same call waiting
// for it is cancelled in turn); with RunOnFailure it counts as finished.
func testDepsAfterIDsFailed(t *testing.T, s store.Store) {
	disc := finalized(t, s, "disc", store.StateDiscarded, at(0))
	canc := finalized(t, s, "canc", store.StateCancelled, at(0))
	avail := insert(t, s, at(0), dep())
	now := at(time.Minute)

	w1 := insert(t, s, now, waiterOf(disc.ID))
	wantDepCancelled(t, "job inserted after a discarded job", w1, disc.ID, store.StateDiscarded, now)
	wantJob(t, "JobGet of that job", get(t, s, w1.ID), w1)

	jobs := insertJobs(t, s, now, waiterOf(avail.ID, canc.ID), waiter(0))
	wantDepCancelled(t, "job inserted after an available and a cancelled job", jobs[0], canc.ID, store.StateCancelled, now)
	wantDepCancelled(t, "job inserted after that job in the same call", jobs[1], jobs[0].ID, store.StateCancelled, now)

	p := waiterOf(disc.ID, canc.ID)
	p.RunOnFailure = true
	w3 := insert(t, s, now, p)
	wantReleased(t, "job with RunOnFailure inserted after a discarded and a cancelled job", w3, now)
	if len(w3.Errors) != 0 {
		t.Fatalf("job with RunOnFailure after failed jobs has errors %v, want none", w3.Errors)
	}
	wantIDs(t, "JobFetch of queue w", jobIDs(fetch(t, s, "w", now, 10, "w")), []int64{w3.ID})
	wantState(t, "the available dependency", get(t, s, avail.ID), store.StateAvailable)
}

// "an ID that does not exist is an error naming it", and the call inserts
// nothing (JobInsertMany is one atomic step), not even the entries before
// it: no row, no unique key claimed. A deleted job does not exist.
func testDepsMissingAfterID(t *testing.T, s store.Store) {
	ok := insert(t, s, at(0), dep())
	gone := insert(t, s, at(0), dep())
	if _, err := s.JobDelete(t.Context(), gone.ID); err != nil {
		t.Fatalf("JobDelete(%d): %v", gone.ID, err)
	}
	for _, id := range []int64{missingID, gone.ID} {
		_, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: at(time.Second), Jobs: []*store.JobInsertParams{
			withDefaults(&store.JobInsertParams{UniqueKey: "u"}),
			withDefaults(dep()),
			withDefaults(waiterOf(ok.ID, id)),
		}})
		if err == nil {
			t.Fatalf("JobInsertMany with AfterIDs [%d %d] (job %d does not exist) succeeded, want an error", ok.ID, id, id)
		}
		if !mentions(err.Error(), id) {
			t.Fatalf("JobInsertMany with AfterIDs of missing job %d: error %q does not name it", id, err)
		}
		wantIDs(t, "jobs after the failed insert", jobIDs(list(t, s, store.JobListParams{Limit: 10})), []int64{ok.ID})
	}
	insert(t, s, at(time.Second), &store.JobInsertParams{UniqueKey: "u"})
}

// After holds "indexes into Jobs, each smaller than this entry's own": its
// own index, a later one or a negative one is an error, and nothing is
// inserted.
func testDepsAfterIndexNotEarlier(t *testing.T, s store.Store) {
	for _, c := range []struct {
		name  string
		after []int
	}{
		{"its own index", []int{1}},
		{"a later index", []int{0, 2}},
		{"a negative index", []int{-1}},
		{"an index past the end", []int{5}},
	} {
		_, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: at(0), Jobs: []*store.JobInsertParams{
			withDefaults(dep()), withDefaults(waiter(c.after...)), withDefaults(dep()),
		}})
		if err == nil {
			t.Fatalf("JobInsertMany with entry 1 After %v (%s) succeeded, want an error", c.after, c.name)
		}
		if jobs := list(t, s, store.JobListParams{Limit: 10}); len(jobs) != 0 {
			t.Fatalf("JobInsertMany with entry 1 After %v (%s) failed but left jobs %v, want none", c.after, c.name, jobIDs(jobs))
		}
	}
}

// "A waiting job is never fetched": not in its own queue, not alongside
// its dependency in the same queue, not when its RunAt is long past, and
// JobRescue leaves it alone.
func testDepsWaitingNeverFetched(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0),
		&store.JobInsertParams{Queue: "default", RunAt: at(time.Hour)},
		&store.JobInsertParams{Queue: "default", After: []int{0}, Priority: 100},
		&store.JobInsertParams{Queue: "w", After: []int{0}},
	)
	fetchNone(t, s, at(time.Minute), "default", "w")
	if n := rescue(t, s, at(24*time.Hour), 10); n != 0 {
		t.Fatalf("JobRescue rescued %d jobs, want 0 (nothing runs)", n)
	}
	got := fetch(t, s, "w", at(48*time.Hour), 10, "w", "default")
	wantIDs(t, "JobFetch of queues [w default] with two waiting jobs and their dependency", jobIDs(got), []int64{jobs[0].ID})
	fetchNone(t, s, at(48*time.Hour), "default", "w")
	for _, j := range jobs[1:] {
		wantUnchanged(t, s, "waiting job after fetches and a rescue", j)
	}
}

// "the dependency completed ...: DepsLeft is decremented; at zero the job
// becomes available at the finishing call's Now". A failed attempt of a
// dependency (retryable) does not count: only reaching a final state does.
func testDepsEachCompletionCounts(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0), dep(), dep(), dep(), waiter(0, 1, 2))
	w := jobs[3]
	deps := []int64{jobs[0].ID, jobs[1].ID, jobs[2].ID}
	run := fetchDeps(t, s, at(0))
	wantSameIDs(t, "JobFetch of the dependencies", jobIDs(run), deps)

	finish(t, s, byID(t, run, deps[2]), store.JobSetStateParams{
		State: store.StateRetryable, Now: at(time.Second), RunAt: at(time.Minute),
		Error: &store.AttemptError{Attempt: 1, At: at(time.Second), Error: "flaky"},
	})
	wantWaiting(t, "waiter after a dependency failed an attempt (retryable)", get(t, s, w.ID), deps, 3)

	complete(t, s, byID(t, run, deps[0]), at(2*time.Second))
	wantWaiting(t, "waiter after the first completion", get(t, s, w.ID), deps, 2)
	fetchNone(t, s, at(2*time.Second), "w")
	complete(t, s, byID(t, run, deps[1]), at(3*time.Second))
	wantWaiting(t, "waiter after the second completion", get(t, s, w.ID), deps, 1)
	fetchNone(t, s, at(3*time.Second), "w")

	again := fetchID(t, s, "dep-worker", at(time.Minute), deps[2], "deps")
	complete(t, s, again, at(time.Minute+5*time.Second))
	got := get(t, s, w.ID)
	wantReleased(t, "waiter after the last completion", got, at(time.Minute+5*time.Second))
	wantIDs(t, "Deps of the released job", got.Deps, deps)
	r := fetchID(t, s, "w", at(time.Minute+5*time.Second), w.ID, "w")
	wantAttempt(t, "fetch of the released job", r, 1)
}

// "at zero the job becomes available at the finishing call's Now
// (scheduled if its own RunAt is later)"; a RunAt already passed makes it
// available at Now.
func testDepsReleasedScheduled(t *testing.T, s store.Store) {
	later := waiter(0)
	later.RunAt = at(time.Hour)
	passed := waiter(0)
	passed.RunAt = at(30 * time.Second)
	jobs := insertJobs(t, s, at(0), dep(), later, passed)
	wantState(t, "waiter with a future RunAt", jobs[1], store.StateWaiting)
	wantState(t, "waiter with a RunAt that will pass", jobs[2], store.StateWaiting)

	complete(t, s, fetchOne(t, s, "dep-worker", at(0), "deps"), at(time.Minute))
	l := get(t, s, jobs[1].ID)
	wantState(t, "waiter with RunAt base+1h released at base+1m", l, store.StateScheduled)
	wantTime(t, "its RunAt", l.RunAt, at(time.Hour))
	wantReleased(t, "waiter with RunAt base+30s released at base+1m", get(t, s, jobs[2].ID), at(time.Minute))

	wantIDs(t, "JobFetch at base+1h-1µs", jobIDs(fetch(t, s, "w", at(time.Hour-time.Microsecond), 10, "w")), []int64{jobs[2].ID})
	fetchID(t, s, "w", at(time.Hour), jobs[1].ID, "w")
}

// "when several dependencies of one job finish in the same call ... the
// job is decremented once per dependency"; refused entries of the call do
// not count.
func testDepsOneCallCountsEach(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0), dep(), dep(), dep(), dep(), waiter(0, 1, 2, 3))
	w := jobs[4]
	deps := jobIDs(jobs[:4])
	run := fetchDeps(t, s, at(0))
	one, two, three, four := byID(t, run, deps[0]), byID(t, run, deps[1]), byID(t, run, deps[2]), byID(t, run, deps[3])
	completed := func(j *store.Job, owner string) *store.JobSetStateParams {
		return &store.JobSetStateParams{ID: j.ID, Owner: owner, Attempt: j.Attempt, State: store.StateCompleted, Now: at(time.Second)}
	}
	ok := setStates(t, s, completed(one, one.LeaseOwner), completed(two, two.LeaseOwner), completed(three, "intruder"))
	if !ok[0] || !ok[1] || ok[2] {
		t.Fatalf("JobSetStateIfRunningMany(two completions and one by the wrong owner) = %v, want [true true false]", ok)
	}
	wantWaiting(t, "waiter after two of its four dependencies completed in one call", get(t, s, w.ID), deps, 2)

	ok = setStates(t, s, completed(three, three.LeaseOwner), completed(four, four.LeaseOwner))
	if !ok[0] || !ok[1] {
		t.Fatalf("JobSetStateIfRunningMany(the last two completions) = %v, want [true true]", ok)
	}
	wantReleased(t, "waiter after its last two dependencies completed in one call", get(t, s, w.ID), at(time.Second))
}

// "otherwise (discarded or cancelled, and RunOnFailure false): the waiting
// job is cancelled at once", by a worker's discard or cancel; the other
// dependency's later completion changes nothing.
func testDepsFailedDepCancelsWaiter(t *testing.T, s store.Store) {
	for i, state := range []store.State{store.StateDiscarded, store.StateCancelled} {
		base := at(time.Duration(i) * time.Hour)
		jobs := insertJobs(t, s, base, dep(), dep(), waiter(0, 1))
		w := jobs[2]
		run := fetchDeps(t, s, base)
		failedAt := base.Add(time.Second)
		finish(t, s, byID(t, run, jobs[0].ID), store.JobSetStateParams{
			State: state, Now: failedAt, Error: &store.AttemptError{Attempt: 1, At: failedAt, Error: "permanent"},
		})
		got := get(t, s, w.ID)
		wantDepCancelled(t, "waiter of a "+string(state)+" dependency", got, jobs[0].ID, state, failedAt)
		wantIDs(t, "Deps of the cancelled waiter", got.Deps, jobIDs(jobs[:2]))

		complete(t, s, byID(t, run, jobs[1].ID), base.Add(2*time.Second))
		wantStill(t, s, "cancelled waiter after its other dependency completed", got)
		fetchNone(t, s, base.Add(time.Minute), "w")
	}
}

// The cancelled waiter "in turn finishes it for the jobs waiting on it,
// recursively": a chain of three is cancelled from its first link, each
// naming the one before; a RunOnFailure job at the end of the chain runs.
func testDepsCascadeChain(t *testing.T, s store.Store) {
	end := waiter(3)
	end.RunOnFailure = true
	jobs := insertJobs(t, s, at(0), dep(), waiter(0), waiter(1), waiter(2), end)
	a, b, c, d, e := jobs[0], jobs[1], jobs[2], jobs[3], jobs[4]
	r := fetchID(t, s, "dep-worker", at(0), a.ID, "deps")
	finish(t, s, r, store.JobSetStateParams{State: store.StateDiscarded, Now: at(time.Second)})

	wantDepCancelled(t, "first waiter of the chain", get(t, s, b.ID), a.ID, store.StateDiscarded, at(time.Second))
	wantDepCancelled(t, "second waiter of the chain", get(t, s, c.ID), b.ID, store.StateCancelled, at(time.Second))
	wantDepCancelled(t, "third waiter of the chain", get(t, s, d.ID), c.ID, store.StateCancelled, at(time.Second))
	wantReleased(t, "RunOnFailure job at the end of the cancelled chain", get(t, s, e.ID), at(time.Second))
	wantIDs(t, "JobFetch of queue w", jobIDs(fetch(t, s, "w", at(time.Second), 10, "w")), []int64{e.ID})
}

// "the dependency completed, or the waiting job has RunOnFailure: DepsLeft
// is decremented": with RunOnFailure a discarded and a cancelled
// dependency count as finished, and the job runs once all are finalized.
func testDepsRunOnFailure(t *testing.T, s store.Store) {
	p := waiter(0, 1, 2)
	p.RunOnFailure = true
	jobs := insertJobs(t, s, at(0), dep(), &store.JobInsertParams{Queue: "pending"}, dep(), p)
	w := jobs[3]
	deps := jobIDs(jobs[:3])
	run := fetchDeps(t, s, at(0))

	finish(t, s, byID(t, run, deps[0]), store.JobSetStateParams{State: store.StateDiscarded, Now: at(time.Second)})
	wantWaiting(t, "RunOnFailure waiter after a discarded dependency", get(t, s, w.ID), deps, 2)
	cancel(t, s, deps[1], at(2*time.Second))
	wantWaiting(t, "RunOnFailure waiter after a dependency was cancelled", get(t, s, w.ID), deps, 1)
	complete(t, s, byID(t, run, deps[2]), at(3*time.Second))
	got := get(t, s, w.ID)
	wantReleased(t, "RunOnFailure waiter after its last dependency completed", got, at(3*time.Second))
	if len(got.Errors) != 0 {
		t.Fatalf("RunOnFailure waiter has errors %v, want none", got.Errors)
	}
}

// "Whenever a job reaches a final state — through ... JobRescue": a
// rescue that discards (out of attempts) or cancels (cancellation asked)
// a dependency cancels its waiters at the rescue's Now; a rescue that
// makes it available again does not touch them.
func testDepsRescueCascades(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0),
		&store.JobInsertParams{Queue: "deps", MaxAttempts: 1},
		&store.JobInsertParams{Queue: "deps", MaxAttempts: 2},
		&store.JobInsertParams{Queue: "deps", MaxAttempts: 2},
		waiter(0), waiter(1), waiter(2),
	)
	a, b, c, wa, wb, wc := jobs[0], jobs[1], jobs[2], jobs[3], jobs[4], jobs[5]
	fetchDeps(t, s, at(0))
	cancel(t, s, c.ID, at(time.Second))
	wantWaiting(t, "waiter of a running dependency asked to cancel", get(t, s, wc.ID), []int64{c.ID}, 1)

	now := at(lease + time.Second)
	if n := rescue(t, s, now, 10); n != 3 {
		t.Fatalf("JobRescue of three expired leases rescued %d", n)
	}
	wantState(t, "rescued dependency out of attempts", get(t, s, a.ID), store.StateDiscarded)
	wantDepCancelled(t, "waiter of the dependency the rescue discarded", get(t, s, wa.ID), a.ID, store.StateDiscarded, now)
	wantState(t, "rescued dependency asked to cancel", get(t, s, c.ID), store.StateCancelled)
	wantDepCancelled(t, "waiter of the dependency the rescue cancelled", get(t, s, wc.ID), c.ID, store.StateCancelled, now)
	wantState(t, "rescued dependency with attempts left", get(t, s, b.ID), store.StateAvailable)
	wantWaiting(t, "waiter of the dependency the rescue made available", get(t, s, wb.ID), []int64{b.ID}, 1)
}

// "Whenever a job reaches a final state — through ... JobCancel": a
// pending dependency (available or scheduled) cancelled by a person
// cancels its waiters at the call's Now.
func testDepsCancelOfPendingDep(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0), dep(), &store.JobInsertParams{Queue: "deps", RunAt: at(time.Hour)}, waiter(0), waiter(1), waiter(0, 1))
	for i, d := range jobs[:2] {
		now := at(time.Duration(i+1) * time.Minute)
		cancel(t, s, d.ID, now)
		wantDepCancelled(t, "waiter of a "+string(d.State)+" dependency cancelled by JobCancel", get(t, s, jobs[2+i].ID), d.ID, store.StateCancelled, now)
	}
	wantDepCancelled(t, "waiter of both", get(t, s, jobs[4].ID), jobs[0].ID, store.StateCancelled, at(time.Minute))
	fetchNone(t, s, at(2*time.Hour), "w")
}

// "JobDelete of a job that is not finalized counts as that job being
// cancelled for the jobs waiting on it" (a pending job, or a waiting one);
// deleting a finalized dependency does not change the count ("it was
// taken when the dependency finished"). JobDelete has no Now: the
// cancelled waiter's FinalizedAt is only required to be set.
func testDepsDeleteOfUnfinishedDep(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0), dep(), dep(), waiter(0, 1), waiter(2), &store.JobInsertParams{Queue: "other"}, waiter(4))
	a, b, w, ww, x, wx := jobs[0], jobs[1], jobs[2], jobs[3], jobs[4], jobs[5]

	// b completes, then is deleted (retention): w still counts it.
	complete(t, s, fetchID(t, s, "dep-worker", at(0), a.ID, "deps"), at(time.Second))
	complete(t, s, fetchID(t, s, "dep-worker", at(0), b.ID, "deps"), at(time.Second))
	wantReleased(t, "waiter of two completed dependencies", get(t, s, w.ID), at(time.Second))
	if _, err := s.JobDelete(t.Context(), b.ID); err != nil {
		t.Fatalf("JobDelete of a completed dependency: %v", err)
	}
	wantReleased(t, "waiter after its completed dependency was deleted", get(t, s, w.ID), at(time.Second))

	// Pending x is deleted: its waiter is cancelled.
	if _, err := s.JobDelete(t.Context(), x.ID); err != nil {
		t.Fatalf("JobDelete of a pending dependency: %v", err)
	}
	wantDepCancelled(t, "waiter of a deleted pending dependency", get(t, s, wx.ID), x.ID, "", time.Time{})

	// A waiting job is deleted: its own waiter is cancelled.
	more := insertJobs(t, s, at(time.Minute), dep(), waiter(0), waiter(1))
	if _, err := s.JobDelete(t.Context(), more[1].ID); err != nil {
		t.Fatalf("JobDelete of a waiting job: %v", err)
	}
	wantDepCancelled(t, "waiter of a deleted waiting job", get(t, s, more[2].ID), more[1].ID, "", time.Time{})
	wantState(t, "dependency of the deleted waiting job", get(t, s, more[0].ID), store.StateAvailable)
	wantWaiting(t, "waiter of a waiter that was released", get(t, s, ww.ID), []int64{w.ID}, 1)
}

// "JobCancel of a waiting job cancels it (and its own dependents, as
// above)": FinalizedAt = Now, a RunOnFailure dependent runs, its own
// dependency is untouched, and that dependency's completion later changes
// nothing.
func testDepsCancelWaiting(t *testing.T, s store.Store) {
	last := waiter(1)
	last.RunOnFailure = true
	jobs := insertJobs(t, s, at(0), dep(), waiter(0), waiter(1), last)
	a, w, v, rof := jobs[0], jobs[1], jobs[2], jobs[3]
	r := fetchID(t, s, "dep-worker", at(0), a.ID, "deps")

	got := cancel(t, s, w.ID, at(time.Second))
	wantState(t, "JobCancel of a waiting job (returned)", got, store.StateCancelled)
	wantTime(t, "FinalizedAt of the cancelled waiting job", got.FinalizedAt, at(time.Second))
	wantStill(t, s, "JobCancel of a waiting job (stored)", got)
	wantDepCancelled(t, "dependent of the cancelled waiting job", get(t, s, v.ID), w.ID, store.StateCancelled, at(time.Second))
	wantReleased(t, "RunOnFailure dependent of the cancelled waiting job", get(t, s, rof.ID), at(time.Second))
	wantUnchanged(t, s, "dependency of the cancelled waiting job", r)

	complete(t, s, r, at(2*time.Second))
	wantStill(t, s, "cancelled waiting job after its dependency completed", got)
}

// "JobRetry of a waiting job makes it available at once, ignoring its
// dependencies": it runs, and its dependencies finishing later (completed
// or failed) no longer affect it — it is not waiting.
func testDepsRetryWaiting(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0), dep(), dep(), waiter(0), waiter(1))
	a, b, wa, wb := jobs[0], jobs[1], jobs[2], jobs[3]
	run := fetchDeps(t, s, at(0))
	for _, w := range []*store.Job{wa, wb} {
		got, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: w.ID, Now: at(time.Second)})
		if err != nil {
			t.Fatalf("JobRetry of a waiting job: %v", err)
		}
		wantState(t, "JobRetry of a waiting job", got, store.StateAvailable)
		wantTime(t, "RunAt of the retried waiting job", got.RunAt, at(time.Second))
	}
	ra := fetchID(t, s, "w", at(time.Second), wa.ID, "w")
	rb := fetchID(t, s, "w", at(time.Second), wb.ID, "w")

	finish(t, s, byID(t, run, a.ID), store.JobSetStateParams{State: store.StateDiscarded, Now: at(2 * time.Second)})
	complete(t, s, byID(t, run, b.ID), at(2*time.Second))
	wantStill(t, s, "retried waiting job, running, after its dependency was discarded", ra)
	wantStill(t, s, "retried waiting job, running, after its dependency completed", rb)
	fetchNone(t, s, at(time.Minute), "w")
	wantState(t, "its worker completes it", complete(t, s, ra, at(3*time.Second)), store.StateCompleted)
}

// "Counting is exact under concurrency ...: when several dependencies of
// one job finish ... in concurrent calls, the job is decremented once per
// dependency and becomes available exactly once." A chord: N jobs and a
// callback after all of them; 8 workers fetch (their own fetches, the
// callback's queue included) and complete what they get in batches; the
// callback is fetched exactly once, after every dependency completed. N is
// 1,000, or 200 under the race detector (see raceEnabled).
func testDepsChordConcurrent(t *testing.T, s store.Store) {
	n := 1_000
	if raceEnabled {
		n = 200
	}
	const workers = 8
	ps := make([]*store.JobInsertParams, n+1)
	after := make([]int, n)
	for i := range n {
		ps[i], after[i] = dep(), i
	}
	ps[n] = &store.JobInsertParams{Queue: "callback", After: after, Workflow: "chord"}
	jobs := insertJobs(t, s, at(0), ps...)
	callback := jobs[n]
	wantWaiting(t, "chord callback", callback, jobIDs(jobs[:n]), n)

	now := at(time.Second)
	var mu sync.Mutex
	var callbacks []string // owners that fetched the callback
	completed := 0
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			owner := fmt.Sprintf("chord-%d", w)
			for {
				got, err := s.JobFetch(t.Context(), &store.JobFetchParams{
					Queues: []string{"callback", "deps"}, Limit: 5 + w*3, Owner: owner, Now: now, LeaseExpiresAt: now.Add(time.Hour),
				})
				if err != nil {
					errs[w] = fmt.Errorf("JobFetch: %w", err)
					return
				}
				if len(got) == 0 {
					return
				}
				var done []*store.JobSetStateParams
				for _, j := range got {
					if j.ID == callback.ID {
						mu.Lock()
						callbacks = append(callbacks, owner)
						mu.Unlock()
						// Released in the step of the last completion: every
						// dependency is completed by now.
						left, err := s.JobList(t.Context(), &store.JobListParams{
							Queue: "deps", States: []store.State{store.StateAvailable, store.StateRunning}, Limit: 1,
						})
						if err != nil {
							errs[w] = fmt.Errorf("JobList: %w", err)
							return
						}
						if len(left) > 0 {
							errs[w] = fmt.Errorf("fetched the callback while dependency %d is still %s", left[0].ID, left[0].State)
							return
						}
						continue
					}
					done = append(done, &store.JobSetStateParams{ID: j.ID, Owner: owner, Attempt: j.Attempt, State: store.StateCompleted, Now: now})
				}
				if len(done) == 0 {
					continue
				}
				ok, err := s.JobSetStateIfRunningMany(t.Context(), done)
				if err != nil {
					errs[w] = fmt.Errorf("JobSetStateIfRunningMany(%d completions): %w", len(done), err)
					return
				}
				for i, applied := range ok {
					if !applied {
						errs[w] = fmt.Errorf("completion of job %d (fetched by %s) was refused", done[i].ID, owner)
						return
					}
				}
				mu.Lock()
				completed += len(done)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("chord worker %d: %v", w, err)
		}
	}
	if completed != n {
		t.Fatalf("the chord workers completed %d dependencies, want %d", completed, n)
	}
	// A worker that found nothing stopped; the last completion may have
	// released the callback after every worker stopped.
	for _, j := range fetch(t, s, "late", now, 10, "callback") {
		callbacks = append(callbacks, j.LeaseOwner)
	}
	if len(callbacks) != 1 {
		t.Fatalf("the chord callback (after %d concurrent completions) was fetched %d times (by %q), want exactly once",
			n, len(callbacks), callbacks)
	}
	got := get(t, s, callback.ID)
	wantState(t, "chord callback after its fetch", got, store.StateRunning)
	wantAttempt(t, "chord callback after its fetch", got, 1)
	if got.DepsLeft != 0 {
		t.Fatalf("chord callback has DepsLeft %d after every dependency completed, want 0", got.DepsLeft)
	}
	fetchNone(t, s, at(time.Hour), "callback", "deps")
}

// "A dependency counts once per waiter, ever": a completed dependency that
// is retried and completes again does not decrement its waiter again (the
// waiter would otherwise run before its other dependency finished).
func testDepsRetriedDepCountsOnce(t *testing.T, s store.Store) {
	jobs := insertJobs(t, s, at(0), dep(), dep(), waiter(0, 1))
	a, b, w := jobs[0], jobs[1], jobs[2]
	deps := []int64{a.ID, b.ID}
	run := fetchDeps(t, s, at(0))
	complete(t, s, byID(t, run, a.ID), at(time.Second))
	wantWaiting(t, "waiter after its first dependency completed", get(t, s, w.ID), deps, 1)

	if _, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: a.ID, Now: at(2 * time.Second)}); err != nil {
		t.Fatalf("JobRetry of the completed dependency: %v", err)
	}
	again := fetchID(t, s, "dep-worker", at(2*time.Second), a.ID, "deps")
	complete(t, s, again, at(3*time.Second))
	wantWaiting(t, "waiter after the retried dependency completed again", get(t, s, w.ID), deps, 1)
	fetchNone(t, s, at(3*time.Second), "w")

	complete(t, s, byID(t, run, b.ID), at(4*time.Second))
	wantReleased(t, "waiter after its second dependency completed", get(t, s, w.ID), at(4*time.Second))
}
