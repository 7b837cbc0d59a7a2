package sqlite_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// fetchAll leases up to limit jobs of queue default to owner.
func fetchAll(t *testing.T, s store.Store, owner string, limit int) []*store.Job {
	t.Helper()
	jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{"default"}, Limit: limit, Owner: owner, Now: t0, LeaseExpiresAt: t0.Add(time.Minute),
	})
	if err != nil {
		t.Fatalf("JobFetch: %v", err)
	}
	return jobs
}

// A batch larger than one statement (chunks of 100, 10 and 1) with every
// target state applies each entry, and only the entries whose guard holds.
func TestSetStateLargeMixedBatch(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	const n = 237
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "k", Queue: "default", Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), MaxAttempts: 5}
	}
	if _, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: ps}); err != nil {
		t.Fatal(err)
	}
	jobs := fetchAll(t, s, "w", n)
	if len(jobs) != n {
		t.Fatalf("fetched %d jobs, want %d", len(jobs), n)
	}
	states := []store.State{
		store.StateCompleted, store.StateRetryable, store.StateDiscarded,
		store.StateCancelled, store.StateScheduled, store.StateAvailable,
	}
	later := t0.Add(time.Hour)
	params := make([]*store.JobSetStateParams, n)
	for i, j := range jobs {
		p := &store.JobSetStateParams{ID: j.ID, Owner: "w", Attempt: j.Attempt, State: states[i%len(states)], Now: t0}
		switch p.State {
		case store.StateRetryable, store.StateScheduled:
			p.RunAt = later
		case store.StateAvailable:
			p.RunAt = t0
		}
		if i%3 == 0 {
			p.Error = &store.AttemptError{Attempt: j.Attempt, At: t0, Error: fmt.Sprintf("boom %d", i)}
		}
		if i%5 == 0 {
			p.Result = json.RawMessage(fmt.Sprintf(`{"r":%d}`, i))
		}
		if i%7 == 0 {
			p.Owner = "someone-else" // lost lease: refused
		}
		params[i] = p
	}
	applied, err := s.JobSetStateIfRunningMany(t.Context(), params)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range params {
		want := i%7 != 0
		if applied[i] != want {
			t.Fatalf("entry %d (job %d, owner %q): applied %v, want %v", i, p.ID, p.Owner, applied[i], want)
		}
		got, err := s.JobGet(t.Context(), p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !want {
			if got.State != store.StateRunning {
				t.Fatalf("refused entry %d: job is %s, want still running", i, got.State)
			}
			continue
		}
		if got.State != p.State || got.LeaseOwner != "" {
			t.Fatalf("entry %d: job is %s leased to %q, want %s with no lease", i, got.State, got.LeaseOwner, p.State)
		}
		if (p.Error != nil) != (len(got.Errors) == 1) || (p.Error != nil && got.Errors[0].Error != p.Error.Error) {
			t.Fatalf("entry %d: errors %+v, want the entry's error %+v", i, got.Errors, p.Error)
		}
		if string(got.Result) != string(p.Result) {
			t.Fatalf("entry %d: result %s, want %s", i, got.Result, p.Result)
		}
		if !p.RunAt.IsZero() && !got.RunAt.Equal(p.RunAt) {
			t.Fatalf("entry %d: RunAt %s, want %s", i, got.RunAt, p.RunAt)
		}
	}
	checkCounts(t, s)
}

// Regression: a batch that names one job twice behaves as if applied one
// entry after the other (the first applies, the second finds the job no
// longer running), though a multi-row UPDATE would pick either.
func TestSetStateSameJobTwiceInOneBatch(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	insertOne(t, s, "default", t0)
	insertOne(t, s, "default", t0)
	jobs := fetchAll(t, s, "w", 2)
	a, b := jobs[0], jobs[1]
	applied, err := s.JobSetStateIfRunningMany(t.Context(), []*store.JobSetStateParams{
		{ID: a.ID, Owner: "w", Attempt: a.Attempt, State: store.StateDiscarded, Now: t0},
		{ID: b.ID, Owner: "w", Attempt: b.Attempt, State: store.StateCompleted, Now: t0},
		{ID: a.ID, Owner: "w", Attempt: a.Attempt, State: store.StateCompleted, Now: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !applied[0] || !applied[1] || applied[2] {
		t.Fatalf("applied %v, want [true true false]", applied)
	}
	got, err := s.JobGet(t.Context(), a.ID)
	if err != nil || got.State != store.StateDiscarded {
		t.Fatalf("job named twice: %v, %v; want the first entry's state discarded", got, err)
	}

	// In a batch of several chunks: entry 60 names entry 10's job again.
	for range 149 {
		insertOne(t, s, "default", t0)
	}
	jobs = fetchAll(t, s, "w", 149)
	var params []*store.JobSetStateParams
	for i := range 150 {
		j := jobs[min(i, 148)]
		if i == 60 {
			j = jobs[10]
		}
		params = append(params, &store.JobSetStateParams{ID: j.ID, Owner: "w", Attempt: j.Attempt, State: store.StateCompleted, Now: t0})
	}
	if applied, err = s.JobSetStateIfRunningMany(t.Context(), params); err != nil {
		t.Fatal(err)
	}
	for i, ok := range applied {
		if want := i != 60 && i != 149; ok != want {
			t.Fatalf("batch of 150 naming two jobs twice: entry %d applied %v, want %v", i, ok, want)
		}
	}
	checkCounts(t, s)
}

// Bad entries are refused before anything is written, naming the entry.
func TestSetStateRejectsBadEntries(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	j := insertOne(t, s, "default", t0)
	fetchAll(t, s, "w", 1)
	for name, p := range map[string]*store.JobSetStateParams{
		"running":         {ID: j.ID, Owner: "w", Attempt: 1, State: store.StateRunning, Now: t0},
		"unknown state":   {ID: j.ID, Owner: "w", Attempt: 1, State: "done", Now: t0},
		"available later": {ID: j.ID, Owner: "w", Attempt: 1, State: store.StateAvailable, Now: t0, RunAt: t0.Add(time.Second)},
		"zero Now":        {ID: j.ID, Owner: "w", Attempt: 1, State: store.StateCompleted},
		"result not JSON": {ID: j.ID, Owner: "w", Attempt: 1, State: store.StateCompleted, Now: t0, Result: json.RawMessage(`{`)},
	} {
		good := &store.JobSetStateParams{ID: j.ID, Owner: "w", Attempt: 1, State: store.StateCompleted, Now: t0}
		if _, err := s.JobSetStateIfRunningMany(t.Context(), []*store.JobSetStateParams{good, p}); err == nil {
			t.Errorf("entry with %s: no error", name)
		}
	}
	got, err := s.JobGet(t.Context(), j.ID)
	if err != nil || got.State != store.StateRunning {
		t.Fatalf("after rejected batches: %v, %v; want the job still running", got, err)
	}
}

// More due jobs than one fetch promotes still all run, oldest first, and a
// queue's due jobs do not wait behind another queue's.
func TestFetchPromotesInBoundedBatches(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	const n = 1500 // more than one fetch promotes
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{
			Kind: "k", Queue: "default", Args: json.RawMessage(`{}`), MaxAttempts: 1,
			RunAt: t0.Add(time.Duration(n-i) * time.Microsecond), // inserted newest due first
		}
	}
	ps = append(ps, &store.JobInsertParams{Kind: "other", Queue: "other", Args: json.RawMessage(`{}`), MaxAttempts: 1, RunAt: t0.Add(time.Hour)})
	if _, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0.Add(-time.Hour), Jobs: ps}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Hour)
	other, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{"other"}, Limit: 1, Owner: "w", Now: now, LeaseExpiresAt: now.Add(time.Minute),
	})
	if err != nil || len(other) != 1 {
		t.Fatalf("fetch of queue other with %d due jobs in default: %d jobs, %v; want its one due job", n, len(other), err)
	}
	var last time.Time
	total := 0
	for total < n {
		jobs, err := s.JobFetch(t.Context(), &store.JobFetchParams{
			Queues: []string{"default"}, Limit: 100, Owner: "w", Now: now, LeaseExpiresAt: now.Add(time.Minute),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 100 {
			t.Fatalf("fetch %d: %d jobs, want 100 (%d of %d due jobs fetched)", total/100, len(jobs), total, n)
		}
		for _, j := range jobs {
			if j.RunAt.Before(last) {
				t.Fatalf("job due at %s fetched after one due at %s", j.RunAt, last)
			}
			last = j.RunAt
		}
		total += len(jobs)
	}
	checkCounts(t, s)
}
