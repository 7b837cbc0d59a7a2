package sqlite_test

import (
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
		return openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	})
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
