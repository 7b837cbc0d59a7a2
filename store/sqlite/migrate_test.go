package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store/sqlite"
)

// schemaVersions returns schema_migrations as version -> applied_at.
func schemaVersions(t *testing.T, s *sqlite.Store) map[int]int64 {
	t.Helper()
	rows, err := s.DB().QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	defer rows.Close()
	m := map[int]int64{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		m[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// Two Stores on one new file (as two processes would be) migrate at the
// same time: both succeed, each version is applied once.
func TestMigrateConcurrentlyFromTwoStores(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	var stores [4]*sqlite.Store
	for i := range stores {
		stores[i] = open(t, path, nil)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate from store %d: %v", i, err)
		}
	}
	versions := schemaVersions(t, stores[0])
	if len(versions) == 0 {
		t.Fatal("schema_migrations is empty after Migrate")
	}
	for _, s := range stores {
		insertOne(t, s, "default", t0)
	}
}

// Migrating again is a no-op: no version is applied twice, applied_at
// keeps its first value, the data stays.
func TestMigrateAgainIsNoop(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	clock := t0
	s := openMigrated(t, path, &sqlite.Options{Clock: func() time.Time { return clock }})
	j := insertOne(t, s, "default", t0)
	before := schemaVersions(t, s)
	for v, at := range before {
		if at != t0.UnixMicro() {
			t.Errorf("version %d applied_at %d, want the Clock's %d", v, at, t0.UnixMicro())
		}
	}
	clock = t0.Add(time.Hour)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	other := open(t, path, nil)
	if err := other.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := schemaVersions(t, s)
	if len(after) != len(before) {
		t.Fatalf("schema_migrations has %d rows after migrating again, want %d", len(after), len(before))
	}
	for v, at := range before {
		if after[v] != at {
			t.Errorf("version %d applied_at changed from %d to %d", v, at, after[v])
		}
	}
	if _, err := other.JobGet(t.Context(), j.ID); err != nil {
		t.Fatalf("job inserted before migrating again: %v", err)
	}
}
