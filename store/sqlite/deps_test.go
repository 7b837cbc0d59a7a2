package sqlite_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// insertJobs inserts ps (Kind, Args and MaxAttempts filled) in one call at
// t0 and returns the jobs.
func insertJobs(t *testing.T, s *sqlite.Store, ps ...*store.JobInsertParams) []*store.Job {
	t.Helper()
	for _, p := range ps {
		p.Kind, p.Args, p.MaxAttempts = "k", json.RawMessage(`{}`), 1
		if p.Queue == "" {
			p.Queue = "default"
		}
	}
	res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: ps})
	if err != nil {
		t.Fatalf("JobInsertMany: %v", err)
	}
	jobs := make([]*store.Job, len(res))
	for i, r := range res {
		jobs[i] = r.Job
	}
	return jobs
}

// runAndFinish fetches up to limit jobs of queue as owner and moves them to
// state, in one JobSetStateIfRunningMany call.
func runAndFinish(t *testing.T, s *sqlite.Store, owner, queue string, limit int, state store.State) []*store.Job {
	t.Helper()
	jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{queue}, Limit: limit, Owner: owner, Now: t0, LeaseExpiresAt: t0.Add(time.Hour),
	})
	if err != nil {
		t.Fatalf("JobFetch: %v", err)
	}
	ps := make([]*store.JobSetStateParams, len(jobs))
	for i, j := range jobs {
		ps[i] = &store.JobSetStateParams{ID: j.ID, Owner: owner, Attempt: j.Attempt, State: state, Now: t0.Add(time.Second)}
	}
	applied, err := s.JobSetStateIfRunningMany(t.Context(), ps)
	if err != nil {
		t.Fatalf("JobSetStateIfRunningMany: %v", err)
	}
	for i, ok := range applied {
		if !ok {
			t.Fatalf("finishing job %d: not applied", jobs[i].ID)
		}
	}
	return jobs
}

// getJob is JobGet, failing t on an error.
func getJob(t *testing.T, s *sqlite.Store, id int64) *store.Job {
	t.Helper()
	j, err := s.JobGet(t.Context(), id)
	if err != nil {
		t.Fatalf("JobGet(%d): %v", id, err)
	}
	return j
}

// queryInt runs a query returning one integer on the write handle.
func queryInt(t *testing.T, s *sqlite.Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.DB().QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// A job nobody waits for does not look for waiting jobs when it ends: only
// jobs flagged has_dependents (set when a waiting job names them) read
// job_deps. The proof: a job_deps row planted by hand for a job without
// the flag is neither applied nor deleted when that job completes.
func TestDepsJobWithoutDependentsSkipsTheLookup(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	jobs := insertJobs(t, s, &store.JobInsertParams{Queue: "plain"}, &store.JobInsertParams{Queue: "dep"})
	plain, dep := jobs[0], jobs[1]
	w := insertJobs(t, s, &store.JobInsertParams{Queue: "w", AfterIDs: []int64{dep.ID}})[0]

	flag := func(id int64) int64 { return queryInt(t, s, `SELECT has_dependents FROM jobs WHERE id = ?`, id) }
	if flag(plain.ID) != 0 || flag(dep.ID) != 1 || flag(w.ID) != 0 {
		t.Fatalf("has_dependents: plain %d, dep %d, waiter %d; want 0, 1, 0", flag(plain.ID), flag(dep.ID), flag(w.ID))
	}
	// In one call, the job a later one waits for (After) is inserted
	// flagged, the others not.
	in := insertJobs(t, s, &store.JobInsertParams{Queue: "x"}, &store.JobInsertParams{Queue: "x"},
		&store.JobInsertParams{Queue: "x", After: []int{1}})
	if flag(in[0].ID) != 0 || flag(in[1].ID) != 1 || flag(in[2].ID) != 0 {
		t.Fatalf("has_dependents in one call: plain %d, dep %d, waiter %d; want 0, 1, 0", flag(in[0].ID), flag(in[1].ID), flag(in[2].ID))
	}
	// Plant: w also waits for plain, behind the flag's back.
	if _, err := s.DB().ExecContext(t.Context(), `INSERT INTO job_deps (dep_id, job_id) VALUES (?, ?)`, plain.ID, w.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(t.Context(), `UPDATE jobs SET deps_left = 2 WHERE id = ?`, w.ID); err != nil {
		t.Fatal(err)
	}

	runAndFinish(t, s, "o", "plain", 1, store.StateCompleted)
	if got := getJob(t, s, w.ID); got.State != store.StateWaiting || got.DepsLeft != 2 {
		t.Fatalf("after the job without the flag completed, the waiter is %s with DepsLeft %d; want untouched (waiting, 2)", got.State, got.DepsLeft)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM job_deps WHERE dep_id = ?`, plain.ID); n != 1 {
		t.Fatalf("the planted job_deps row of the job without the flag: %d rows, want 1 (never looked up)", n)
	}

	// The flagged dependency is applied, and its row deleted.
	runAndFinish(t, s, "o", "dep", 1, store.StateCompleted)
	if got := getJob(t, s, w.ID); got.State != store.StateWaiting || got.DepsLeft != 1 {
		t.Fatalf("after the flagged dependency completed, the waiter is %s with DepsLeft %d; want waiting, 1", got.State, got.DepsLeft)
	}
	if n := queryInt(t, s, `SELECT count(*) FROM job_deps WHERE dep_id = ?`, dep.ID); n != 0 {
		t.Fatalf("job_deps rows of the completed dependency: %d, want 0", n)
	}
	checkCounts(t, s)
}

// A dependency is counted once: retried after it ended, and ending again,
// it does not decrement the jobs waiting for it a second time (its
// job_deps rows were deleted when it first ended).
func TestDepsRetriedDependencyCountsOnce(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	jobs := insertJobs(t, s,
		&store.JobInsertParams{Queue: "a"},
		&store.JobInsertParams{Queue: "b"},
		&store.JobInsertParams{Queue: "w", After: []int{0, 1}},
	)
	a, w := jobs[0], jobs[2]
	runAndFinish(t, s, "o", "a", 1, store.StateCompleted)
	if _, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: a.ID, Now: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	runAndFinish(t, s, "o", "a", 1, store.StateCompleted)
	if got := getJob(t, s, w.ID); got.State != store.StateWaiting || got.DepsLeft != 1 {
		t.Fatalf("waiter after its dependency completed twice: %s, DepsLeft %d; want waiting, 1", got.State, got.DepsLeft)
	}
	runAndFinish(t, s, "o", "b", 1, store.StateCompleted)
	if got := getJob(t, s, w.ID); got.State != store.StateAvailable {
		t.Fatalf("waiter after both dependencies completed: %s, want available", got.State)
	}
	checkCounts(t, s)
}

// A waiting job made available by its last dependency wakes the listeners
// of its queue, like an insert.
func TestDepsReleasedWaiterNotifiesItsQueue(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	insertJobs(t, s, &store.JobInsertParams{Queue: "dep"}, &store.JobInsertParams{Queue: "callbacks", After: []int{0}})
	ch, err := s.ListenInserts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	runAndFinish(t, s, "o", "dep", 1, store.StateCompleted)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case q := <-ch:
			if q == "callbacks" {
				return
			}
		case <-deadline:
			t.Fatal("no notification for queue callbacks within 20 s of its waiting job's release")
		}
	}
}

// Counting is exact across processes: two Stores on one file (as two
// worker processes) complete the 200 members of a chord concurrently, in
// batches; the callback counts each once and is released exactly once.
func TestDepsChordAcrossTwoStores(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	a := openMigrated(t, path, nil)
	b := open(t, path, nil)
	const members = 200
	ps := make([]*store.JobInsertParams, members+1)
	after := make([]int, members)
	for i := range members {
		ps[i] = &store.JobInsertParams{Queue: "members", Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		after[i] = i
	}
	ps[members] = &store.JobInsertParams{Queue: "callbacks", After: after}
	jobs := insertJobs(t, a, ps...)
	callback := jobs[members]

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, s := range []*sqlite.Store{a, b} {
		wg.Go(func() {
			owner := fmt.Sprintf("store-%d", i)
			for {
				jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
					Queues: []string{"members"}, Limit: 7, Owner: owner, Now: t0, LeaseExpiresAt: t0.Add(time.Hour),
				})
				if err != nil {
					errs <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				ps := make([]*store.JobSetStateParams, len(jobs))
				for k, j := range jobs {
					ps[k] = &store.JobSetStateParams{ID: j.ID, Owner: owner, Attempt: j.Attempt, State: store.StateCompleted, Now: t0}
				}
				if _, err := s.JobSetStateIfRunningMany(t.Context(), ps); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := getJob(t, a, callback.ID)
	if got.State != store.StateAvailable || got.DepsLeft != 0 {
		t.Fatalf("chord callback after its %d members completed in two stores: %s, DepsLeft %d; want available, 0", members, got.State, got.DepsLeft)
	}
	if n := queryInt(t, a, `SELECT count(*) FROM job_deps`); n != 0 {
		t.Fatalf("job_deps holds %d rows after every dependency ended, want 0", n)
	}
	checkCounts(t, a)
}

// A long chain (each job After the one before it) inserts in one call, and
// a failure at its head cancels every link in one transaction.
func TestDepsLongChainCancelsInOneCall(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	const n = 500
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Queue: "chain"}
		if i > 0 {
			ps[i].After = []int{i - 1}
		}
	}
	jobs := insertJobs(t, s, ps...)
	runAndFinish(t, s, "o", "chain", 1, store.StateDiscarded)
	last := getJob(t, s, jobs[n-1].ID)
	if last.State != store.StateCancelled || len(last.Errors) != 1 {
		t.Fatalf("last link after the head was discarded: %s with errors %v; want cancelled with one error", last.State, last.Errors)
	}
	if want := fmt.Sprintf("dependency job %d was cancelled", jobs[n-2].ID); last.Errors[0].Error != want {
		t.Fatalf("last link's error %q, want %q", last.Errors[0].Error, want)
	}
	checkCounts(t, s)
}
