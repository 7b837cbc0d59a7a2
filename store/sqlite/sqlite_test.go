package sqlite_test

import (
	"context"
	"maps"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
	"github.com/doubleboiler/boiler/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
		// After each behaviour (before Close): the per-queue counts the
		// store keeps by hand must match the jobs table.
		t.Cleanup(func() { checkCounts(t, s) })
		return s
	})
}

// checkCounts fails t unless queue_counts agrees with a count of the jobs
// table.
func checkCounts(t testing.TB, s *sqlite.Store) {
	t.Helper()
	read := func(query string) map[string]int64 {
		rows, err := s.DB().QueryContext(context.Background(), query)
		if err != nil {
			t.Fatalf("checking counts: %v", err)
		}
		defer rows.Close()
		m := map[string]int64{}
		for rows.Next() {
			var q, state string
			var n int64
			if err := rows.Scan(&q, &state, &n); err != nil {
				t.Fatalf("checking counts: %v", err)
			}
			m[q+"/"+state] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("checking counts: %v", err)
		}
		return m
	}
	kept := read(`SELECT queue, state, n FROM queue_counts WHERE n <> 0`)
	real := read(`SELECT queue, state, count(*) FROM jobs GROUP BY queue, state`)
	if !maps.Equal(kept, real) {
		t.Errorf("queue_counts drifted from the jobs table:\n kept %v\n real %v", kept, real)
	}
}

// openMigrated opens and migrates the database at path, closed at the end
// of the test.
func openMigrated(t testing.TB, path string, opts *sqlite.Options) *sqlite.Store {
	t.Helper()
	s := open(t, path, opts)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate %s: %v", path, err)
	}
	return s
}

// open opens the database at path, closed at the end of the test.
func open(t testing.TB, path string, opts *sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path, opts)
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close %s: %v", path, err)
		}
	})
	return s
}
