package sqlite_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/doubleboiler/boiler/store"
)

// The IDs JobInsertMany returns for a multi-row insert (computed from the
// last ID of each chunk) are the rows' IDs, also when unique jobs split
// the runs and some are duplicates.
func TestInsertManyIDsMatchRows(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	const n = 347
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "k", Queue: "default", Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)), MaxAttempts: 1}
		if i%50 == 7 {
			ps[i].UniqueKey = fmt.Sprintf("key-%d", i%100) // every other one is a duplicate
		}
	}
	res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: ps})
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for i, r := range res {
		if r.Duplicate {
			if i%50 != 7 || i < 100 {
				t.Fatalf("result %d is a duplicate", i)
			}
			continue
		}
		if r.Job.ID <= last {
			t.Fatalf("result %d has ID %d, not above the previous %d", i, r.Job.ID, last)
		}
		last = r.Job.ID
		got, err := s.JobGet(t.Context(), r.Job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if string(got.Args) != string(ps[i].Args) {
			t.Fatalf("result %d: JobGet(%d) has args %s, want %s", i, r.Job.ID, got.Args, ps[i].Args)
		}
	}
	checkCounts(t, s)
}
