package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// JobList by state runs one of two plans, chosen by the kept counts (a
// common state walked newest first; a rare one read from its partial
// index and sorted), or a plain walk for a mix of states without an index
// of their own. Each gives the same pages: newest first, cursor and
// filters applied.
func TestJobListStatementsGiveTheSamePages(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	now := time.Now()
	// More available jobs than rareStateJobs (10,000), so that listing
	// them takes the common branch; a few of every other state.
	const many = 10_050
	params := make([]*store.JobInsertParams, many)
	for i := range params {
		params[i] = job([]string{"a", "b"}[i%2])
	}
	res, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Now: now, Jobs: params})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"a", "b"}, Limit: 30, Owner: "w", Now: now, LeaseExpiresAt: now.Add(time.Hour)})
	if err != nil || len(jobs) != 30 {
		t.Fatalf("JobFetch: %v (%d jobs)", err, len(jobs))
	}
	ends := make([]*store.JobSetStateParams, 0, 20)
	for i, j := range jobs[:20] {
		ends = append(ends, &store.JobSetStateParams{ID: j.ID, Owner: "w", Attempt: j.Attempt,
			State: []store.State{store.StateCompleted, store.StateDiscarded}[i%2], Now: now})
	}
	if _, err := s.JobSetStateIfRunningMany(ctx, ends); err != nil {
		t.Fatal(err)
	}
	for _, r := range res[100:105] {
		if _, err := s.JobCancel(ctx, &store.JobCancelParams{ID: r.Job.ID, Now: now}); err != nil {
			t.Fatal(err)
		}
	}

	// What every page must be: the jobs by a full read, filtered here.
	var all []*store.Job
	for before := int64(0); ; {
		page, err := s.JobList(ctx, &store.JobListParams{BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		before = page[len(page)-1].ID
	}
	if len(all) != many {
		t.Fatalf("listed %d jobs in all, want %d", len(all), many)
	}
	for _, c := range []struct {
		states []store.State
		queue  string
	}{
		{states: []store.State{store.StateAvailable}},
		{states: []store.State{store.StateAvailable}, queue: "b"},
		{states: []store.State{store.StateRunning}},
		{states: []store.State{store.StateCompleted, store.StateDiscarded}},
		{states: []store.State{store.StateDiscarded, store.StateCancelled, store.StateCompleted}, queue: "a"},
		{states: []store.State{store.StateCancelled}},
		{states: []store.State{store.StateScheduled, store.StateRetryable}},
		{states: []store.State{store.StateRunning, store.StateCancelled}},
	} {
		var want []int64
		for _, j := range all {
			if slices.Contains(c.states, j.State) && (c.queue == "" || j.Queue == c.queue) {
				want = append(want, j.ID)
			}
		}
		var got []int64
		for before := int64(0); ; {
			page, err := s.JobList(ctx, &store.JobListParams{States: c.states, Queue: c.queue, BeforeID: before, Limit: 7})
			if err != nil {
				t.Fatalf("JobList(%v, queue %q): %v", c.states, c.queue, err)
			}
			for _, j := range page {
				got = append(got, j.ID)
			}
			if len(page) < 7 {
				break
			}
			before = page[len(page)-1].ID
			if len(got) > 60 { // the first pages are enough for the big sets
				want = want[:len(got)]
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("JobList(%v, queue %q) pages: %v, want %v", c.states, c.queue, got, want)
		}
	}
}
