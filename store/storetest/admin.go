package storetest

import (
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// missingID is an ID no test store ever reaches.
const missingID = 1 << 50

func getTests() []test {
	return []test{
		{"UnknownIsErrNotFound", testGetUnknown},
	}
}

// "A job that does not exist is ErrNotFound (wrapped)."
func testGetUnknown(t *testing.T, s store.Store) {
	_, err := s.JobGet(t.Context(), missingID)
	wantErrIs(t, "JobGet of a job that does not exist", err, store.ErrNotFound)
	j := insert(t, s, at(0), &store.JobInsertParams{})
	_, err = s.JobGet(t.Context(), j.ID+1)
	wantErrIs(t, "JobGet of the ID after the last job", err, store.ErrNotFound)
}

func listTests() []test {
	return []test{
		{"NewestFirst", testListNewestFirst},
		{"FiltersByStates", testListFiltersByStates},
		{"FiltersByQueueAndKind", testListFiltersByQueueAndKind},
		{"BeforeIDPagesCoverEveryJobOnce", testListPaging},
		{"FiltersByWorkflow", testListFiltersByWorkflow},
	}
}

// Workflow filters "only members of this workflow", together with the
// other filters and the BeforeID cursor.
func testListFiltersByWorkflow(t *testing.T, s store.Store) {
	var inA, inAQueueX []int64
	byKind := map[string][]int64{}
	for i := range 17 {
		wf := []string{"a", "b", "", "a"}[i%4]
		q := []string{"x", "y"}[i%3%2]
		kind := []string{"k1", "k2"}[i%2]
		j := insert(t, s, at(0), &store.JobInsertParams{Workflow: wf, Queue: q, Kind: kind})
		if wf == "a" {
			inA = append([]int64{j.ID}, inA...)
			byKind[kind] = append([]int64{j.ID}, byKind[kind]...)
			if q == "x" {
				inAQueueX = append([]int64{j.ID}, inAQueueX...)
			}
		}
	}
	// One member of a finished, the rest pending.
	done := fetchID(t, s, "w", at(time.Second), inA[len(inA)-1], "x")
	finish(t, s, done, store.JobSetStateParams{State: store.StateCompleted, Now: at(time.Second)})

	for _, c := range []struct {
		name string
		p    store.JobListParams
		want []int64
	}{
		{"Workflow a", store.JobListParams{Workflow: "a"}, inA},
		{"Workflow a, Queue x", store.JobListParams{Workflow: "a", Queue: "x"}, inAQueueX},
		{"Workflow a, Kind k2", store.JobListParams{Workflow: "a", Kind: "k2"}, byKind["k2"]},
		{"Workflow a, States [completed]", store.JobListParams{Workflow: "a", States: []store.State{store.StateCompleted}}, []int64{done.ID}},
		{"Workflow a, BeforeID", store.JobListParams{Workflow: "a", BeforeID: inA[1]}, inA[2:]},
		{"Workflow unknown", store.JobListParams{Workflow: "c"}, nil},
	} {
		c.p.Limit = 100
		got := list(t, s, c.p)
		wantIDs(t, "JobList("+c.name+")", jobIDs(got), c.want)
		for _, j := range got {
			if j.Workflow != c.p.Workflow {
				t.Fatalf("JobList(%s) returned job %d of workflow %q", c.name, j.ID, j.Workflow)
			}
		}
	}
	wantIDs(t, "pages of 2 over workflow a", jobIDs(listAll(t, s, store.JobListParams{Workflow: "a", Limit: 2})), inA)
}

// "JobList returns jobs ... newest (highest ID) first"; zero filters do not
// filter; Limit caps the page.
func testListNewestFirst(t *testing.T, s store.Store) {
	if got := list(t, s, store.JobListParams{Limit: 10}); len(got) != 0 {
		t.Fatalf("JobList of an empty store returned %v", jobIDs(got))
	}
	var want []int64
	for i := range 5 {
		j := insert(t, s, at(time.Duration(i)*time.Second), &store.JobInsertParams{Queue: []string{"a", "b"}[i%2]})
		want = append([]int64{j.ID}, want...)
	}
	wantIDs(t, "JobList with no filter", jobIDs(list(t, s, store.JobListParams{Limit: 10})), want)
	wantIDs(t, "JobList(Limit 2)", jobIDs(list(t, s, store.JobListParams{Limit: 2})), want[:2])
	wantJob(t, "job as JobList returns it", list(t, s, store.JobListParams{Limit: 1})[0], get(t, s, want[0]))
}

// States filters by any of the given states.
func testListFiltersByStates(t *testing.T, s store.Store) {
	avail := insertN(t, s, at(0), 2, &store.JobInsertParams{Queue: "run"})
	sched := insert(t, s, at(0), &store.JobInsertParams{RunAt: at(time.Hour)})
	run := fetchID(t, s, "w", at(0), avail[0].ID, "run")
	done := finalized(t, s, "done", store.StateCompleted, at(0))

	for _, c := range []struct {
		states []store.State
		want   []int64
	}{
		{[]store.State{store.StateAvailable}, []int64{avail[1].ID}},
		{[]store.State{store.StateRunning}, []int64{run.ID}},
		{[]store.State{store.StateScheduled, store.StateCompleted}, []int64{done.ID, sched.ID}},
		{[]store.State{store.StateDiscarded}, nil},
		{nil, []int64{done.ID, sched.ID, avail[1].ID, avail[0].ID}},
	} {
		got := list(t, s, store.JobListParams{States: c.states, Limit: 10})
		wantSameIDs(t, "JobList(States "+statesString(c.states)+")", jobIDs(got), c.want)
		for _, j := range got {
			if len(c.states) > 0 && !containsState(c.states, j.State) {
				t.Fatalf("JobList(States %v) returned job %d in state %s", c.states, j.ID, j.State)
			}
		}
	}
}

// Queue and Kind filter, alone and together with States.
func testListFiltersByQueueAndKind(t *testing.T, s store.Store) {
	ax := insert(t, s, at(0), &store.JobInsertParams{Queue: "a", Kind: "x"})
	ay := insert(t, s, at(0), &store.JobInsertParams{Queue: "a", Kind: "y"})
	bx := insert(t, s, at(0), &store.JobInsertParams{Queue: "b", Kind: "x"})
	by := insert(t, s, at(0), &store.JobInsertParams{Queue: "b", Kind: "y", RunAt: at(time.Hour)})
	for _, c := range []struct {
		name string
		p    store.JobListParams
		want []int64
	}{
		{"Queue a", store.JobListParams{Queue: "a"}, []int64{ay.ID, ax.ID}},
		{"Kind x", store.JobListParams{Kind: "x"}, []int64{bx.ID, ax.ID}},
		{"Queue b, Kind x", store.JobListParams{Queue: "b", Kind: "x"}, []int64{bx.ID}},
		{"Queue b, States [scheduled]", store.JobListParams{Queue: "b", States: []store.State{store.StateScheduled}}, []int64{by.ID}},
		{"Queue c", store.JobListParams{Queue: "c"}, nil},
	} {
		c.p.Limit = 10
		wantIDs(t, "JobList("+c.name+")", jobIDs(list(t, s, c.p)), c.want)
	}
}

// BeforeID is a cursor: paging from the newest with the last ID of each
// page lists every job exactly once, newest first, with or without a
// filter.
func testListPaging(t *testing.T, s store.Store) {
	var all, inA []int64
	for i := range 23 {
		q := []string{"a", "b", "a"}[i%3]
		j := insert(t, s, at(0), &store.JobInsertParams{Queue: q})
		all = append([]int64{j.ID}, all...)
		if q == "a" {
			inA = append([]int64{j.ID}, inA...)
		}
	}
	page := func(p store.JobListParams, want []int64, what string) {
		var got []int64
		for pages := 0; ; pages++ {
			if pages > len(want) {
				t.Fatalf("%s: paging did not end after %d pages", what, pages)
			}
			jobs := list(t, s, p)
			if len(jobs) == 0 {
				break
			}
			for _, j := range jobs {
				if p.BeforeID != 0 && j.ID >= p.BeforeID {
					t.Fatalf("%s: JobList(BeforeID %d) returned job %d", what, p.BeforeID, j.ID)
				}
			}
			if len(jobs) < p.Limit && len(got)+len(jobs) < len(want) {
				t.Fatalf("%s: page of %d jobs (Limit %d) before the end", what, len(jobs), p.Limit)
			}
			got = append(got, jobIDs(jobs)...)
			p.BeforeID = jobs[len(jobs)-1].ID
		}
		wantIDs(t, what, got, want)
	}
	page(store.JobListParams{Limit: 5}, all, "pages of 5 over all jobs")
	page(store.JobListParams{Limit: 4, Queue: "a"}, inA, "pages of 4 over queue a")
}

func statesString(states []store.State) string {
	out := "["
	for i, st := range states {
		if i > 0 {
			out += " "
		}
		out += string(st)
	}
	return out + "]"
}

func containsState(states []store.State, st store.State) bool {
	for _, s := range states {
		if s == st {
			return true
		}
	}
	return false
}

func cancelTests() []test {
	return []test{
		{"PendingIsCancelledAtOnce", testCancelPending},
		{"RunningGetsCancelRequested", testCancelRunning},
		{"FinalizedIsUnchanged", testCancelFinalized},
		{"UnknownIsErrNotFound", testCancelUnknown},
	}
}

// "a pending job becomes cancelled at once" (FinalizedAt = Now), whatever
// its pending state, and is never fetched. "It returns the job as it is
// after the call."
func testCancelPending(t *testing.T, s store.Store) {
	avail := insert(t, s, at(0), &store.JobInsertParams{})
	sched := insert(t, s, at(0), &store.JobInsertParams{RunAt: at(time.Hour)})
	retry := insert(t, s, at(0), &store.JobInsertParams{Queue: "r"})
	r := fetchID(t, s, "w", at(0), retry.ID, "r")
	retry = finish(t, s, r, store.JobSetStateParams{State: store.StateRetryable, Now: at(time.Second), RunAt: at(time.Hour)})

	for _, j := range []*store.Job{avail, sched, retry} {
		what := "JobCancel of a " + string(j.State) + " job"
		got := cancel(t, s, j.ID, at(time.Minute))
		want := *j
		want.State, want.FinalizedAt = store.StateCancelled, at(time.Minute)
		wantJob(t, what+" (returned)", got, &want)
		wantJob(t, what+" (stored)", get(t, s, j.ID), &want)
	}
	fetchNone(t, s, at(2*time.Hour), "default", "r")
}

// "a running job gets CancelRequested (its worker cancels it at the next
// heartbeat ...)": it keeps running under its lease, and its worker can
// still finish it.
func testCancelRunning(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	got := cancel(t, s, r.ID, at(time.Second))
	want := *r
	want.CancelRequested = true
	wantJob(t, "JobCancel of a running job (returned)", got, &want)
	wantJob(t, "JobCancel of a running job (stored)", get(t, s, r.ID), &want)

	// Asking twice changes nothing more.
	wantJob(t, "second JobCancel of the running job", cancel(t, s, r.ID, at(2*time.Second)), &want)

	j := finish(t, s, r, store.JobSetStateParams{State: store.StateCancelled, Now: at(3 * time.Second)})
	wantState(t, "job cancelled by its worker after the request", j, store.StateCancelled)
	wantTime(t, "FinalizedAt of the job its worker cancelled", j.FinalizedAt, at(3*time.Second))
}

// "a finalized job is unchanged".
func testCancelFinalized(t *testing.T, s store.Store) {
	for _, state := range []store.State{store.StateCompleted, store.StateDiscarded, store.StateCancelled} {
		j := finalized(t, s, string(state), state, at(0))
		got := cancel(t, s, j.ID, at(time.Hour))
		wantJob(t, "JobCancel of a "+string(state)+" job (returned)", got, j)
		wantUnchanged(t, s, "JobCancel of a "+string(state)+" job", j)
	}
}

func testCancelUnknown(t *testing.T, s store.Store) {
	_, err := s.JobCancel(t.Context(), &store.JobCancelParams{ID: missingID, Now: at(0)})
	wantErrIs(t, "JobCancel of a job that does not exist", err, store.ErrNotFound)
}

func retryTests() []test {
	return []test{
		{"DiscardedRunsAgainWithOneMoreAttempt", testRetryDiscarded},
		{"CancelledRunsAgain", testRetryCancelled},
		{"CompletedRunsAgain", testRetryCompleted},
		{"PendingRunsNow", testRetryPending},
		{"RunningIsErrJobRunning", testRetryRunning},
		{"UnknownIsErrNotFound", testRetryUnknown},
	}
}

// "a discarded ... job runs again": available at Now, and out of attempts
// "MaxAttempts becomes Attempt+1 so the retry gets one attempt";
// "FinalizedAt ... cleared". It returns the job after the call.
func testRetryDiscarded(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{MaxAttempts: 1})
	e := &store.AttemptError{Attempt: 1, At: at(time.Second), Error: "broken"}
	d := finish(t, s, r, store.JobSetStateParams{State: store.StateDiscarded, Now: at(time.Second), Error: e})

	got, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: d.ID, Now: at(time.Hour)})
	if err != nil {
		t.Fatalf("JobRetry of a discarded job: %v", err)
	}
	want := *d
	want.State, want.RunAt, want.FinalizedAt, want.MaxAttempts = store.StateAvailable, at(time.Hour), time.Time{}, 2
	wantJob(t, "JobRetry of a job discarded out of attempts (returned)", got, &want)
	wantJob(t, "JobRetry of a job discarded out of attempts (stored)", get(t, s, d.ID), &want)

	again := fetchID(t, s, "w", at(time.Hour), d.ID, "default")
	wantAttempt(t, "fetch after JobRetry", again, 2)

	// Discarded with attempts left (a permanent error): MaxAttempts kept.
	r = running(t, s, "permanent", "w", at(0), &store.JobInsertParams{MaxAttempts: 5})
	d = finish(t, s, r, store.JobSetStateParams{State: store.StateDiscarded, Now: at(time.Second)})
	got, err = s.JobRetry(t.Context(), &store.JobRetryParams{ID: d.ID, Now: at(time.Hour)})
	if err != nil {
		t.Fatalf("JobRetry of a discarded job: %v", err)
	}
	if got.MaxAttempts != 5 || got.State != store.StateAvailable {
		t.Fatalf("JobRetry of a job discarded at attempt 1 of 5: State %s, MaxAttempts %d; want available, 5",
			got.State, got.MaxAttempts)
	}
}

// "a ... cancelled job runs again"; "CancelRequested ... cleared".
func testRetryCancelled(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	cancel(t, s, r.ID, at(time.Second))
	rescue(t, s, at(time.Minute), 10) // the worker died: the rescue cancels it
	c := get(t, s, r.ID)
	wantState(t, "rescued job asked to cancel", c, store.StateCancelled)

	got, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: c.ID, Now: at(time.Hour)})
	if err != nil {
		t.Fatalf("JobRetry of a cancelled job: %v", err)
	}
	want := *c
	want.State, want.RunAt, want.FinalizedAt, want.CancelRequested = store.StateAvailable, at(time.Hour), time.Time{}, false
	wantJob(t, "JobRetry of a cancelled job", got, &want)
	wantJob(t, "JobRetry of a cancelled job (stored)", get(t, s, c.ID), &want)

	// A job cancelled while pending (never attempted) runs too.
	p := insert(t, s, at(0), &store.JobInsertParams{Queue: "p"})
	cancel(t, s, p.ID, at(time.Second))
	if got, err = s.JobRetry(t.Context(), &store.JobRetryParams{ID: p.ID, Now: at(time.Hour)}); err != nil {
		t.Fatalf("JobRetry of a job cancelled while pending: %v", err)
	}
	wantState(t, "JobRetry of a job cancelled while pending", got, store.StateAvailable)
	fetchID(t, s, "w", at(time.Hour), p.ID, "p")
}

// JobRetry "makes a job that is not running available at Now": a
// completed job too.
func testRetryCompleted(t *testing.T, s store.Store) {
	c := finalized(t, s, "default", store.StateCompleted, at(0))
	got, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: c.ID, Now: at(time.Hour)})
	if err != nil {
		t.Fatalf("JobRetry of a completed job: %v", err)
	}
	want := *c
	want.State, want.RunAt, want.FinalizedAt = store.StateAvailable, at(time.Hour), time.Time{}
	wantJob(t, "JobRetry of a completed job", got, &want)
}

// "a scheduled or retryable one runs now".
func testRetryPending(t *testing.T, s store.Store) {
	sched := insert(t, s, at(0), &store.JobInsertParams{RunAt: at(time.Hour)})
	r := running(t, s, "r", "w", at(0), &store.JobInsertParams{})
	retry := finish(t, s, r, store.JobSetStateParams{State: store.StateRetryable, Now: at(time.Second), RunAt: at(time.Hour)})
	for _, j := range []*store.Job{sched, retry} {
		got, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: j.ID, Now: at(time.Minute)})
		if err != nil {
			t.Fatalf("JobRetry of a %s job: %v", j.State, err)
		}
		want := *j
		want.State, want.RunAt = store.StateAvailable, at(time.Minute)
		wantJob(t, "JobRetry of a "+string(j.State)+" job", got, &want)
		fetchID(t, s, "w", at(time.Minute), j.ID, j.Queue)
	}
}

// "A running job is ErrJobRunning", and is left alone.
func testRetryRunning(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	_, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: r.ID, Now: at(time.Second)})
	wantErrIs(t, "JobRetry of a running job", err, store.ErrJobRunning)
	wantUnchanged(t, s, "refused JobRetry", r)
}

func testRetryUnknown(t *testing.T, s store.Store) {
	_, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: missingID, Now: at(0)})
	wantErrIs(t, "JobRetry of a job that does not exist", err, store.ErrNotFound)
}

func deleteTests() []test {
	return []test{
		{"ReturnsJobAsItWas", testDeleteReturnsJob},
		{"RunningIsErrJobRunning", testDeleteRunning},
		{"UnknownIsErrNotFound", testDeleteUnknown},
	}
}

// "JobDelete deletes a job that is not running ... and returns it as it
// was": pending or finalized, it is gone afterwards.
func testDeleteReturnsJob(t *testing.T, s store.Store) {
	pending := insert(t, s, at(0), &store.JobInsertParams{Queue: "p", RunAt: at(time.Hour)})
	done := finalized(t, s, "d", store.StateCompleted, at(0))
	keep := insert(t, s, at(0), &store.JobInsertParams{Queue: "k"})
	for _, j := range []*store.Job{pending, done} {
		got, err := s.JobDelete(t.Context(), j.ID)
		if err != nil {
			t.Fatalf("JobDelete of a %s job: %v", j.State, err)
		}
		wantJob(t, "JobDelete of a "+string(j.State)+" job (returned)", got, j)
		_, err = s.JobGet(t.Context(), j.ID)
		wantErrIs(t, "JobGet of a deleted job", err, store.ErrNotFound)
		_, err = s.JobDelete(t.Context(), j.ID)
		wantErrIs(t, "second JobDelete of a job", err, store.ErrNotFound)
	}
	wantIDs(t, "JobList after the deletes", jobIDs(list(t, s, store.JobListParams{Limit: 10})), []int64{keep.ID})
}

// "a running job is ErrJobRunning": it stays, leased.
func testDeleteRunning(t *testing.T, s store.Store) {
	r := running(t, s, "default", "w", at(0), &store.JobInsertParams{})
	_, err := s.JobDelete(t.Context(), r.ID)
	wantErrIs(t, "JobDelete of a running job", err, store.ErrJobRunning)
	wantUnchanged(t, s, "refused JobDelete", r)
}

func testDeleteUnknown(t *testing.T, s store.Store) {
	_, err := s.JobDelete(t.Context(), missingID)
	wantErrIs(t, "JobDelete of a job that does not exist", err, store.ErrNotFound)
}
