package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// TestCheckpointsInBackground: pages committed to the WAL reach the
// database file soon after, without the write connection's own
// checkpoint, which runs only once the WAL holds 1,000 pages (these
// writes make far fewer).
func TestCheckpointsInBackground(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	s := openMigrated(t, path, nil)
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	time.Sleep(100 * time.Millisecond) // the migration's pages settle
	before := size()
	for i := range 20 {
		if _, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Jobs: benchJobs(100, 100*i), Now: benchNow}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for size() <= before {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is still %d bytes 10s after 2,000 inserts: the WAL was not checkpointed", before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if pages := fi.Size() / 4096; pages >= 1000 {
		t.Fatalf("the WAL grew to %d pages: the write connection's checkpoint may have done the work", pages)
	}
}
