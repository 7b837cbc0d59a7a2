package sqlite_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// t0 is the tests' clock: a fixed time, like the conformance suite's.
var t0 = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// insertOne inserts one available job of queue at now.
func insertOne(t testing.TB, s store.Store, queue string, now time.Time) *store.Job {
	t.Helper()
	res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{
		Now:  now,
		Jobs: []*store.JobInsertParams{{Kind: "k", Queue: queue, Args: json.RawMessage(`{}`), MaxAttempts: 3}},
	})
	if err != nil {
		t.Fatalf("JobInsertMany: %v", err)
	}
	return res[0].Job
}

func TestOpenRejectsBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		opts       *sqlite.Options
		want       string // in the error
	}{
		{"empty path", "", nil, "path is empty"},
		{"memory", ":memory:", nil, "in-memory"},
		{"URI", "file:x.db", nil, "file: URIs"},
		{"missing directory", filepath.Join(dir, "nope", "x.db"), nil, "nope"},
		{"directory is a file", filepath.Join(file, "x.db"), nil, "not a directory"},
		{"negative BusyTimeout", filepath.Join(dir, "a.db"), &sqlite.Options{BusyTimeout: -time.Second}, "BusyTimeout"},
		{"negative MaxReaders", filepath.Join(dir, "b.db"), &sqlite.Options{MaxReaders: -1}, "MaxReaders"},
	} {
		s, err := sqlite.Open(c.path, c.opts)
		if err == nil {
			_ = s.Close()
			t.Errorf("Open with %s: no error, want one mentioning %q", c.name, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open with %s: error %q, want it to mention %q", c.name, err, c.want)
		}
	}
}

// Paths holding the characters a SQLite URI gives a meaning to ('?', '#',
// '%') name the file they say, and a relative path is relative to the
// working directory.
func TestOpenPathWithURICharacters(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jobs?.db")
	s := openMigrated(t, path, nil)
	j := insertOne(t, s, "default", t0)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file %q: %v", path, err)
	}
	// A second Store on the same path sees the job: same file.
	other := open(t, path, nil)
	got, err := other.JobGet(t.Context(), j.ID)
	if err != nil || got.ID != j.ID {
		t.Fatalf("JobGet through a second Store on %q: %v, %v", path, got, err)
	}
}

// Open does not migrate, and a store used before Migrate says so.
func TestUseBeforeMigrateSaysSo(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	_, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{
		Now:  t0,
		Jobs: []*store.JobInsertParams{{Kind: "k", Queue: "q", Args: json.RawMessage(`{}`), MaxAttempts: 1}},
	})
	if err == nil || !strings.Contains(err.Error(), "migrated") {
		t.Fatalf("JobInsertMany before Migrate: %v, want an error asking whether the schema was migrated", err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	insertOne(t, s, "q", t0)
}

func TestInsertRejectsBadJobs(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	good := store.JobInsertParams{Kind: "k", Queue: "q", Args: json.RawMessage(`{}`), MaxAttempts: 1}
	for _, c := range []struct {
		name string
		edit func(p *store.JobInsertParams)
		want string
	}{
		{"empty kind", func(p *store.JobInsertParams) { p.Kind = "" }, "job 1 has an empty Kind"},
		{"empty queue", func(p *store.JobInsertParams) { p.Queue = "" }, "job 1 has an empty Queue"},
		{"bad JSON", func(p *store.JobInsertParams) { p.Args = json.RawMessage(`{`) }, "job 1 has Args that are not valid JSON"},
		{"no attempts", func(p *store.JobInsertParams) { p.MaxAttempts = 0 }, "job 1 has MaxAttempts 0"},
	} {
		bad := good
		c.edit(&bad)
		g := good
		_, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: []*store.JobInsertParams{&g, &bad}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("insert with %s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// Nothing of the rejected calls was inserted.
	jobs, err := s.JobList(t.Context(), &store.JobListParams{Limit: 10})
	if err != nil || len(jobs) != 0 {
		t.Fatalf("JobList after rejected inserts: %d jobs, %v; want none", len(jobs), err)
	}
}
