package storetest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// lease is how long the suite's fetches lease jobs for.
const lease = 30 * time.Second

// at returns the suite's fixed base time plus d. The suite never reads the
// wall clock: every store call gets its Now from here.
func at(d time.Duration) time.Time {
	return time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC).Add(d)
}

// withDefaults returns a copy of p whose zero Kind, Queue, Args and
// MaxAttempts are filled the way the client fills them.
func withDefaults(p *store.JobInsertParams) *store.JobInsertParams {
	c := *p
	c.Kind = cmp.Or(c.Kind, "test")
	c.Queue = cmp.Or(c.Queue, "default")
	if c.Args == nil {
		c.Args = json.RawMessage(`{}`)
	}
	c.MaxAttempts = cmp.Or(c.MaxAttempts, 25)
	return &c
}

// insertMany inserts ps (defaults filled) in one JobInsertMany call at now.
func insertMany(t *testing.T, s store.Store, now time.Time, ps ...*store.JobInsertParams) []store.JobInsertResult {
	t.Helper()
	in := make([]*store.JobInsertParams, len(ps))
	for i, p := range ps {
		in[i] = withDefaults(p)
	}
	res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: in, Now: now})
	if err != nil {
		t.Fatalf("JobInsertMany(%d jobs): %v", len(in), err)
	}
	if len(res) != len(in) {
		t.Fatalf("JobInsertMany returned %d results for %d jobs, want one per job", len(res), len(in))
	}
	for i, r := range res {
		if r.Job == nil {
			t.Fatalf("JobInsertMany: result %d has a nil Job", i)
		}
	}
	return res
}

// insert inserts one job at now and fails unless it is a new job.
func insert(t *testing.T, s store.Store, now time.Time, p *store.JobInsertParams) *store.Job {
	t.Helper()
	r := insertMany(t, s, now, p)[0]
	if r.Duplicate {
		t.Fatalf("JobInsertMany: job (unique key %q) came back as a Duplicate of job %d, want a new job",
			p.UniqueKey, r.Job.ID)
	}
	return r.Job
}

// insertN inserts n copies of p in one call and returns them.
func insertN(t *testing.T, s store.Store, now time.Time, n int, p *store.JobInsertParams) []*store.Job {
	t.Helper()
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = p
	}
	jobs := make([]*store.Job, n)
	for i, r := range insertMany(t, s, now, ps...) {
		jobs[i] = r.Job
	}
	return jobs
}

// fetch leases up to limit jobs of queues (default: "default") to owner at
// now, for the suite's lease duration.
func fetch(t *testing.T, s store.Store, owner string, now time.Time, limit int, queues ...string) []*store.Job {
	t.Helper()
	if len(queues) == 0 {
		queues = []string{"default"}
	}
	jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: queues, Limit: limit, Owner: owner, Now: now, LeaseExpiresAt: now.Add(lease),
	})
	if err != nil {
		t.Fatalf("JobFetch(queues %v, limit %d, owner %q): %v", queues, limit, owner, err)
	}
	if len(jobs) > limit {
		t.Fatalf("JobFetch(limit %d) returned %d jobs, more than Limit", limit, len(jobs))
	}
	return jobs
}

// fetchOne fetches exactly one job with Limit 1.
func fetchOne(t *testing.T, s store.Store, owner string, now time.Time, queues ...string) *store.Job {
	t.Helper()
	jobs := fetch(t, s, owner, now, 1, queues...)
	if len(jobs) != 1 {
		t.Fatalf("JobFetch at %s (queues %v) returned no job, want one", clock(now), queues)
	}
	return jobs[0]
}

// fetchID fetches one job and fails unless it is job id (test set-up).
func fetchID(t *testing.T, s store.Store, owner string, now time.Time, id int64, queue string) *store.Job {
	t.Helper()
	j := fetchOne(t, s, owner, now, queue)
	if j.ID != id {
		t.Fatalf("JobFetch returned job %d, want job %d (the only eligible job of queue %q)", j.ID, id, queue)
	}
	return j
}

// fetchNone fails if a fetch at now returns any job.
func fetchNone(t *testing.T, s store.Store, now time.Time, queues ...string) {
	t.Helper()
	if jobs := fetch(t, s, "fetch-none", now, 100, queues...); len(jobs) > 0 {
		j := jobs[0]
		t.Fatalf("JobFetch at %s (queues %v) returned jobs %v, want none (job %d: queue %q, attempt %d, RunAt %s)",
			clock(now), queues, jobIDs(jobs), j.ID, j.Queue, j.Attempt, clock(j.RunAt))
	}
}

// setStates calls JobSetStateIfRunningMany and checks it answers once per entry.
func setStates(t *testing.T, s store.Store, ps ...*store.JobSetStateParams) []bool {
	t.Helper()
	ok, err := s.JobSetStateIfRunningMany(t.Context(), ps)
	if err != nil {
		t.Fatalf("JobSetStateIfRunningMany(%d entries): %v", len(ps), err)
	}
	if len(ok) != len(ps) {
		t.Fatalf("JobSetStateIfRunningMany returned %d results for %d entries, want one per entry", len(ok), len(ps))
	}
	return ok
}

// setState calls JobSetStateIfRunningMany with one entry.
func setState(t *testing.T, s store.Store, p *store.JobSetStateParams) bool {
	t.Helper()
	return setStates(t, s, p)[0]
}

// finish moves running job j (as its fetch returned it) out of running the
// way its worker would: p's ID, Owner and Attempt are taken from j. The
// change must apply; finish returns the job as stored after it.
func finish(t *testing.T, s store.Store, j *store.Job, p store.JobSetStateParams) *store.Job {
	t.Helper()
	p.ID, p.Owner, p.Attempt = j.ID, j.LeaseOwner, j.Attempt
	if !setState(t, s, &p) {
		t.Fatalf("JobSetStateIfRunningMany(job %d -> %s, owner %q, attempt %d) = false for a job running under that owner and attempt, want true",
			j.ID, p.State, p.Owner, p.Attempt)
	}
	return get(t, s, j.ID)
}

// finalized inserts a job into queue at now, fetches it and moves it to
// final state (completed, discarded or cancelled) at now, as a worker would.
// queue must have no other eligible job.
func finalized(t *testing.T, s store.Store, queue string, state store.State, now time.Time) *store.Job {
	t.Helper()
	j := insert(t, s, now, &store.JobInsertParams{Queue: queue})
	j = fetchID(t, s, "finisher", now, j.ID, queue)
	return finish(t, s, j, store.JobSetStateParams{State: state, Now: now})
}

// get returns job id and fails if it cannot.
func get(t *testing.T, s store.Store, id int64) *store.Job {
	t.Helper()
	j, err := s.JobGet(t.Context(), id)
	if err != nil {
		t.Fatalf("JobGet(%d): %v", id, err)
	}
	if j == nil || j.ID != id {
		t.Fatalf("JobGet(%d) returned %+v, want job %d", id, j, id)
	}
	return j
}

// rescue calls JobRescue.
func rescue(t *testing.T, s store.Store, now time.Time, limit int) int {
	t.Helper()
	n, err := s.JobRescue(t.Context(), &store.JobRescueParams{Now: now, Limit: limit})
	if err != nil {
		t.Fatalf("JobRescue(now %s, limit %d): %v", clock(now), limit, err)
	}
	return n
}

// heartbeat calls JobHeartbeat.
func heartbeat(t *testing.T, s store.Store, owner string, leaseExpiresAt time.Time) *store.JobHeartbeatResult {
	t.Helper()
	r, err := s.JobHeartbeat(t.Context(), &store.JobHeartbeatParams{Owner: owner, LeaseExpiresAt: leaseExpiresAt})
	if err != nil {
		t.Fatalf("JobHeartbeat(owner %q): %v", owner, err)
	}
	if r == nil {
		t.Fatalf("JobHeartbeat(owner %q) returned a nil result", owner)
	}
	return r
}

// cancel calls JobCancel.
func cancel(t *testing.T, s store.Store, id int64, now time.Time) *store.Job {
	t.Helper()
	j, err := s.JobCancel(t.Context(), &store.JobCancelParams{ID: id, Now: now})
	if err != nil {
		t.Fatalf("JobCancel(%d): %v", id, err)
	}
	if j == nil || j.ID != id {
		t.Fatalf("JobCancel(%d) returned %+v, want job %d", id, j, id)
	}
	return j
}

// list calls JobList.
func list(t *testing.T, s store.Store, p store.JobListParams) []*store.Job {
	t.Helper()
	jobs, err := s.JobList(t.Context(), &p)
	if err != nil {
		t.Fatalf("JobList(%+v): %v", p, err)
	}
	if len(jobs) > p.Limit {
		t.Fatalf("JobList(limit %d) returned %d jobs, more than Limit", p.Limit, len(jobs))
	}
	return jobs
}

// listAll pages through JobList with the BeforeID cursor (p.Limit per
// page) and returns every job, newest first.
func listAll(t *testing.T, s store.Store, p store.JobListParams) []*store.Job {
	t.Helper()
	var all []*store.Job
	for {
		page := list(t, s, p)
		if len(page) == 0 {
			return all
		}
		for _, j := range page {
			if p.BeforeID != 0 && j.ID >= p.BeforeID {
				t.Fatalf("JobList(BeforeID %d) returned job %d, want only lower IDs", p.BeforeID, j.ID)
			}
		}
		all = append(all, page...)
		p.BeforeID = page[len(page)-1].ID
	}
}

// stats calls QueueStats at now.
func stats(t *testing.T, s store.Store, now time.Time) []*store.QueueStat {
	t.Helper()
	st, err := s.QueueStats(t.Context(), &store.QueueStatsParams{Now: now})
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	return st
}

// stat returns queue's entry of QueueStats at now, and fails without one.
func stat(t *testing.T, s store.Store, now time.Time, queue string) *store.QueueStat {
	t.Helper()
	for _, q := range stats(t, s, now) {
		if q.Name == queue {
			return q
		}
	}
	t.Fatalf("QueueStats has no entry for queue %q", queue)
	return nil
}

// pause and resume call QueuePause and QueueResume.
func pause(t *testing.T, s store.Store, queue string) {
	t.Helper()
	if err := s.QueuePause(t.Context(), queue); err != nil {
		t.Fatalf("QueuePause(%q): %v", queue, err)
	}
}

func resume(t *testing.T, s store.Store, queue string) {
	t.Helper()
	if err := s.QueueResume(t.Context(), queue); err != nil {
		t.Fatalf("QueueResume(%q): %v", queue, err)
	}
}

// ---- assertions ----

// wantState fails unless j is in state want.
func wantState(t *testing.T, what string, j *store.Job, want store.State) {
	t.Helper()
	if j.State != want {
		t.Fatalf("%s: job %d has State %q, want %q", what, j.ID, j.State, want)
	}
}

// wantAttempt fails unless j.Attempt is want.
func wantAttempt(t *testing.T, what string, j *store.Job, want int) {
	t.Helper()
	if j.Attempt != want {
		t.Fatalf("%s: job %d has Attempt %d, want %d", what, j.ID, j.Attempt, want)
	}
}

// sameInstant reports whether a and b are within a microsecond of each
// other (stores keep at least microseconds).
func sameInstant(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	d := a.Sub(b)
	return d < time.Microsecond && d > -time.Microsecond
}

// timeProblem says what is wrong with got (zero when nothing is): not the
// same instant as want, or not in UTC.
func timeProblem(got, want time.Time) string {
	if !sameInstant(got, want) {
		return fmt.Sprintf("%s, want %s", clock(got), clock(want))
	}
	if !got.IsZero() && got.Location() != time.UTC {
		return fmt.Sprintf("%s is in location %q, want UTC", got.Format(time.RFC3339Nano), got.Location())
	}
	return ""
}

// wantTime fails unless got is want to the microsecond, in UTC.
func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if p := timeProblem(got, want); p != "" {
		t.Fatalf("%s = %s", what, p)
	}
}

// clock formats a time as an offset from the suite's base time, which is
// how the tests write them.
func clock(tm time.Time) string {
	if tm.IsZero() {
		return "zero time"
	}
	return fmt.Sprintf("base%+v (%s)", tm.Sub(at(0)), tm.Format(time.RFC3339Nano))
}

// jsonEqual reports whether a and b are the same JSON value (key order and
// spacing aside). Empty and null count as the same absent value.
func jsonEqual(a, b json.RawMessage) bool {
	absent := func(m json.RawMessage) bool { return len(m) == 0 || string(m) == "null" }
	if absent(a) || absent(b) {
		return absent(a) && absent(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// wantJSON fails unless got is the same JSON value as want.
func wantJSON(t *testing.T, what string, got, want json.RawMessage) {
	t.Helper()
	if !jsonEqual(got, want) {
		t.Fatalf("%s = %s, want %s (same JSON value)", what, got, want)
	}
}

// wantErrIs fails unless errors.Is(err, target).
func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want an error wrapping %q (errors.Is)", what, err, target)
	}
}

// jobIDs returns the IDs of jobs, in order.
func jobIDs(jobs []*store.Job) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}

// wantIDs fails unless got is exactly want, in order.
func wantIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got jobs %v, want %v (in this order)", what, got, want)
	}
}

// wantSameIDs fails unless got and want hold the same IDs, in any order.
func wantSameIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got jobs %v, want %v (in any order)", what, g, w)
	}
}

// wantError fails unless e records attempt at time when with a message.
func wantError(t *testing.T, what string, e store.AttemptError, attempt int, when time.Time, msg string) {
	t.Helper()
	if e.Attempt != attempt {
		t.Fatalf("%s: AttemptError.Attempt = %d, want %d", what, e.Attempt, attempt)
	}
	wantTime(t, what+": AttemptError.At", e.At, when)
	if msg == "" && e.Error == "" {
		t.Fatalf("%s: AttemptError.Error is empty, want a message saying why the attempt failed", what)
	}
	if msg != "" && e.Error != msg {
		t.Fatalf("%s: AttemptError.Error = %q, want %q", what, e.Error, msg)
	}
}

// jobDiff lists the fields in which got differs from want (times to the
// microsecond, JSON by value).
func jobDiff(got, want *store.Job) []string {
	var d []string
	field := func(name string, g, w any) {
		if !reflect.DeepEqual(g, w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if p := timeProblem(g, w); p != "" {
			d = append(d, name+" = "+p)
		}
	}
	js := func(name string, g, w json.RawMessage) {
		if !jsonEqual(g, w) {
			d = append(d, fmt.Sprintf("%s = %s, want %s", name, g, w))
		}
	}
	field("ID", got.ID, want.ID)
	field("Kind", got.Kind, want.Kind)
	field("Queue", got.Queue, want.Queue)
	field("Priority", got.Priority, want.Priority)
	js("Args", got.Args, want.Args)
	field("State", got.State, want.State)
	field("Attempt", got.Attempt, want.Attempt)
	field("MaxAttempts", got.MaxAttempts, want.MaxAttempts)
	field("Timeout", got.Timeout, want.Timeout)
	tm("EnqueuedAt", got.EnqueuedAt, want.EnqueuedAt)
	tm("RunAt", got.RunAt, want.RunAt)
	tm("AttemptedAt", got.AttemptedAt, want.AttemptedAt)
	tm("FinalizedAt", got.FinalizedAt, want.FinalizedAt)
	field("UniqueKey", got.UniqueKey, want.UniqueKey)
	tm("UniqueUntil", got.UniqueUntil, want.UniqueUntil)
	field("LeaseOwner", got.LeaseOwner, want.LeaseOwner)
	tm("LeaseExpiresAt", got.LeaseExpiresAt, want.LeaseExpiresAt)
	field("CancelRequested", got.CancelRequested, want.CancelRequested)
	if len(got.Errors) != len(want.Errors) {
		d = append(d, fmt.Sprintf("len(Errors) = %d, want %d", len(got.Errors), len(want.Errors)))
	} else {
		for i := range got.Errors {
			field(fmt.Sprintf("Errors[%d].Attempt", i), got.Errors[i].Attempt, want.Errors[i].Attempt)
			tm(fmt.Sprintf("Errors[%d].At", i), got.Errors[i].At, want.Errors[i].At)
			field(fmt.Sprintf("Errors[%d].Error", i), got.Errors[i].Error, want.Errors[i].Error)
		}
	}
	js("Result", got.Result, want.Result)
	field("Workflow", got.Workflow, want.Workflow)
	if !slices.Equal(got.Deps, want.Deps) {
		d = append(d, fmt.Sprintf("Deps = %v, want %v", got.Deps, want.Deps))
	}
	field("DepsLeft", got.DepsLeft, want.DepsLeft)
	field("RunOnFailure", got.RunOnFailure, want.RunOnFailure)
	return d
}

// wantJob fails unless got equals want field by field.
func wantJob(t *testing.T, what string, got, want *store.Job) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got a nil job, want job %d", what, want.ID)
	}
	if d := jobDiff(got, want); len(d) > 0 {
		t.Fatalf("%s: job %d differs:\n\t%s", what, want.ID, strings.Join(d, "\n\t"))
	}
}

// wantUnchanged fails unless the stored job still equals before.
func wantUnchanged(t *testing.T, s store.Store, what string, before *store.Job) {
	t.Helper()
	wantJob(t, what+" (the job must be unchanged)", get(t, s, before.ID), before)
}

// wantLeaseCleared fails unless j has no lease.
func wantLeaseCleared(t *testing.T, what string, j *store.Job) {
	t.Helper()
	if j.LeaseOwner != "" || !j.LeaseExpiresAt.IsZero() {
		t.Fatalf("%s: job %d has LeaseOwner %q and LeaseExpiresAt %s, want both cleared",
			what, j.ID, j.LeaseOwner, clock(j.LeaseExpiresAt))
	}
}
