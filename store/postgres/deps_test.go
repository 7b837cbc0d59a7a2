package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/postgres"
)

// openSecond opens another store (another pool, as another process would)
// on db's schema, closed when t ends.
func openSecond(t *testing.T, db *testDB) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), db.URL, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// runningJob inserts a job into queue and leases it to owner for an hour.
func runningJob(t *testing.T, s *postgres.Store, queue, owner string, now time.Time) *store.Job {
	t.Helper()
	insertOne(t, s, now, job(queue))
	jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{queue}, Limit: 1, Owner: owner, Now: now, LeaseExpiresAt: now.Add(time.Hour),
	})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("JobFetch: %v (%d jobs)", err, len(jobs))
	}
	return jobs[0]
}

// A job inserted waiting for a job, from one process, while another
// process ends that job (completed or discarded by its worker, cancelled,
// deleted, or discarded by a rescue): whichever commits first, the waiting
// job learns the end (the dependency's row lock orders the two). A lost
// race would leave it waiting forever.
func TestDepsInsertRacingTheDependencysEnd(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	other := openSecond(t, db)
	ctx := t.Context()
	now := time.Now()
	ends := []struct {
		name   string
		want   store.State // of the waiting job
		endDep func(dep *store.Job) error
	}{
		{"completed", store.StateAvailable, func(dep *store.Job) error {
			_, err := s.JobSetStateIfRunningMany(ctx, []*store.JobSetStateParams{{
				ID: dep.ID, Owner: "w", Attempt: dep.Attempt, State: store.StateCompleted, Now: now}})
			return err
		}},
		{"discarded", store.StateCancelled, func(dep *store.Job) error {
			_, err := s.JobSetStateIfRunningMany(ctx, []*store.JobSetStateParams{{
				ID: dep.ID, Owner: "w", Attempt: dep.Attempt, State: store.StateDiscarded, Now: now}})
			return err
		}},
		{"cancelled", store.StateCancelled, func(dep *store.Job) error {
			_, err := s.JobCancel(ctx, &store.JobCancelParams{ID: dep.ID, Now: now})
			return err
		}},
		{"deleted", store.StateCancelled, func(dep *store.Job) error {
			_, err := s.JobDelete(ctx, dep.ID)
			return err
		}},
		{"rescued out of attempts", store.StateCancelled, func(dep *store.Job) error {
			// The rescue skips a row the insert holds locked: again until
			// it takes it.
			for deadline := time.Now().Add(10 * time.Second); ; {
				n, err := s.JobRescue(ctx, &store.JobRescueParams{Now: now.Add(2 * time.Hour), Limit: 10})
				if err != nil || n == 1 {
					return err
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("job %d not rescued within 10s", dep.ID)
				}
			}
		}},
	}
	for round := range 100 {
		end := ends[round%len(ends)]
		var dep *store.Job
		switch end.name {
		case "cancelled", "deleted":
			dep = insertOne(t, s, now, job("deps"))
		default:
			p := job("deps")
			p.MaxAttempts = 1
			insertOne(t, s, now, p)
			jobs, err := s.JobFetch(ctx, &store.JobFetchParams{
				Queues: []string{"deps"}, Limit: 1, Owner: "w", Now: now, LeaseExpiresAt: now.Add(time.Hour),
			})
			if err != nil || len(jobs) != 1 {
				t.Fatalf("JobFetch: %v (%d jobs)", err, len(jobs))
			}
			dep = jobs[0]
		}
		var (
			wg     sync.WaitGroup
			waiter *store.Job
			insErr error
			endErr error
		)
		wg.Go(func() {
			p := job("after")
			p.AfterIDs = []int64{dep.ID}
			res, err := other.JobInsertMany(ctx, &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{p}})
			if err != nil {
				insErr = err
				return
			}
			waiter = res[0].Job
		})
		wg.Go(func() {
			// Every other round the end starts a little later, so that
			// each order happens.
			time.Sleep(time.Duration(round/len(ends)%2) * time.Duration(1+round%3) * time.Millisecond)
			endErr = end.endDep(dep)
		})
		wg.Wait()
		if endErr != nil {
			t.Fatalf("round %d: ending the dependency (%s): %v", round, end.name, endErr)
		}
		if insErr != nil {
			if end.name == "deleted" && errors.Is(insErr, store.ErrNotFound) {
				continue // deleted before the insert looked: nothing inserted
			}
			t.Fatalf("round %d: inserting the waiting job: %v", round, insErr)
		}
		got, err := s.JobGet(ctx, waiter.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != end.want || (end.want == store.StateAvailable && got.DepsLeft != 0) {
			t.Fatalf("round %d: the job waiting for job %d, %s as it was inserted: %s with DepsLeft %d, want %s",
				round, dep.ID, end.name, got.State, got.DepsLeft, end.want)
		}
		// Take the waiting job out of the way of the next round.
		if _, err := s.JobDelete(ctx, waiter.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// Several waiting jobs share many dependencies, ended in batches by
// fetchers in two processes at once: every waiting job is decremented once
// per dependency, released once at zero, and no batch fails on a deadlock
// (the waiting jobs are locked in ID order, and a deadlock would be
// retried).
func TestDepsConcurrentEndsAcrossProcessesCountExactly(t *testing.T) {
	t.Parallel()
	s, db := newTestStore(t)
	stores := []*postgres.Store{s, openSecond(t, db)}
	ctx := t.Context()
	now := time.Now()
	const deps, waiters = 300, 6
	params := make([]*store.JobInsertParams, 0, deps+waiters)
	for range deps {
		params = append(params, job("deps"))
	}
	for range waiters {
		p := job("after")
		for i := range deps {
			p.After = append(p.After, i)
		}
		params = append(params, p)
	}
	res, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Now: now, Jobs: params})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res[deps:] {
		if r.Job.State != store.StateWaiting || r.Job.DepsLeft != deps || len(r.Job.Deps) != deps {
			t.Fatalf("inserted waiting job %d: %s, DepsLeft %d, %d Deps; want waiting for %d", r.Job.ID, r.Job.State, r.Job.DepsLeft, len(r.Job.Deps), deps)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for f := range 4 {
		st := stores[f%2]
		owner := fmt.Sprintf("w%d", f)
		wg.Go(func() {
			for {
				jobs, err := st.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"deps"}, Limit: 7, Owner: owner, Now: now, LeaseExpiresAt: now.Add(time.Hour)})
				if err != nil || len(jobs) == 0 {
					errs <- err
					return
				}
				done := make([]*store.JobSetStateParams, len(jobs))
				for i, j := range jobs {
					done[i] = &store.JobSetStateParams{ID: j.ID, Owner: owner, Attempt: j.Attempt, State: store.StateCompleted, Now: now}
				}
				if _, err := st.JobSetStateIfRunningMany(ctx, done); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range res[deps:] {
		got, err := s.JobGet(ctx, r.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != store.StateAvailable || got.DepsLeft != 0 {
			t.Fatalf("waiting job %d after its %d dependencies completed: %s with DepsLeft %d, want available with 0", got.ID, deps, got.State, got.DepsLeft)
		}
	}
	var left int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+db.Schema+".job_deps").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("job_deps holds %d rows once every dependency ended, want none", left)
	}
}

// JobInsertManyTx with a dependency that does not exist inserts nothing
// and leaves the caller's transaction usable (a savepoint takes the rows
// back).
func TestDepsInsertTxMissingDependencyKeepsTheTransaction(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	now := time.Now()
	tx, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	bad := job("q")
	bad.AfterIDs = []int64{1 << 40}
	_, err = s.JobInsertManyTx(ctx, tx, &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{job("q"), bad}})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("JobInsertManyTx with a missing AfterIDs: %v, want store.ErrNotFound", err)
	}
	res, err := s.JobInsertManyTx(ctx, tx, &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{job("ok")}})
	if err != nil {
		t.Fatalf("JobInsertManyTx after the failed one, in the same transaction: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	jobs, err := s.JobList(ctx, &store.JobListParams{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].ID != res[0].Job.ID {
		t.Fatalf("jobs after the commit: %d, want only job %d", len(jobs), res[0].Job.ID)
	}
}

// A job released by its last dependency's end wakes its queue's
// listeners, as an insert does.
func TestDepsReleaseWakesListeners(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	wake, err := s.ListenInserts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dep := runningJob(t, s, "first", "w", now)
	expectWake(t, wake, "first", 10*time.Second)
	p := job("then")
	p.AfterIDs = []int64{dep.ID}
	insertOne(t, s, now, p)
	expectNoWake(t, wake, 200*time.Millisecond, "the job inserted waiting is not available")
	if _, err := s.JobSetStateIfRunningMany(ctx, []*store.JobSetStateParams{{
		ID: dep.ID, Owner: "w", Attempt: dep.Attempt, State: store.StateCompleted, Now: now,
	}}); err != nil {
		t.Fatal(err)
	}
	expectWake(t, wake, "then", 10*time.Second)
}
