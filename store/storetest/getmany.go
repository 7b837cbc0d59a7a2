package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func getManyTests() []test {
	return []test{
		{"InOrderOfIDsMissingLeftOut", testGetManyInOrderMissingLeftOut},
		{"NoIDsNoJobs", testGetManyNoIDs},
	}
}

// getMany calls JobGetMany.
func getMany(t *testing.T, s store.Store, ids ...int64) []*store.Job {
	t.Helper()
	jobs, err := s.JobGetMany(t.Context(), ids)
	if err != nil {
		t.Fatalf("JobGetMany(%v): %v", ids, err)
	}
	return jobs
}

// "JobGetMany returns the jobs with the given IDs, in the order of ids;
// IDs that do not exist are left out (no error)": the order is the
// caller's, not the IDs', and every job is whole, whatever its state.
func testGetManyInOrderMissingLeftOut(t *testing.T, s store.Store) {
	jobs := insertN(t, s, at(0), 3, &store.JobInsertParams{Args: json.RawMessage(`{"n":1}`)})
	done := finalized(t, s, "done", store.StateCompleted, at(time.Second))
	run := running(t, s, "run", "w", at(0), &store.JobInsertParams{Workflow: "wf"})
	gone := insert(t, s, at(0), &store.JobInsertParams{Queue: "gone"})
	if _, err := s.JobDelete(t.Context(), gone.ID); err != nil {
		t.Fatalf("JobDelete(%d): %v", gone.ID, err)
	}

	ids := []int64{done.ID, missingID, jobs[2].ID, gone.ID, run.ID, jobs[0].ID}
	want := []int64{done.ID, jobs[2].ID, run.ID, jobs[0].ID}
	got := getMany(t, s, ids...)
	wantIDs(t, "JobGetMany("+idsString(ids)+")", jobIDs(got), want)
	for _, j := range got {
		wantJob(t, "job as JobGetMany returns it", j, get(t, s, j.ID))
	}
	if got := getMany(t, s, missingID, gone.ID); len(got) != 0 {
		t.Fatalf("JobGetMany of IDs that do not exist returned jobs %v, want none", jobIDs(got))
	}
}

// No IDs: no jobs, no error.
func testGetManyNoIDs(t *testing.T, s store.Store) {
	insert(t, s, at(0), &store.JobInsertParams{})
	if got := getMany(t, s); len(got) != 0 {
		t.Fatalf("JobGetMany(no IDs) returned jobs %v, want none", jobIDs(got))
	}
	if got := getMany(t, s, []int64{}...); len(got) != 0 {
		t.Fatalf("JobGetMany(empty slice) returned jobs %v, want none", jobIDs(got))
	}
}

func idsString(ids []int64) string {
	b, _ := json.Marshal(ids)
	return string(b)
}
