package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// migrateToV1 gives the database of s the schema of version 1 only (the
// schema a released boiler created), as its Migrate did then.
func migrateToV1(t *testing.T, s *sqlite.Store) {
	t.Helper()
	v1, err := os.ReadFile(filepath.Join("migrations", "0001_jobs.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		string(v1),
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`,
	} {
		if _, err := s.DB().ExecContext(t.Context(), q); err != nil {
			t.Fatalf("creating the version 1 schema: %v", err)
		}
	}
}

// Migration 0002 rebuilds the jobs table (state gains 'waiting'): the
// jobs of a version 1 database come through whole, with their IDs and
// counts, an ID used by a job deleted before the migration is not reused,
// the hot paths work on the old jobs, and the new columns have their
// defaults.
func TestMigrateFromV1KeepsJobs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	s := open(t, path, nil)
	migrateToV1(t, s)

	now := t0.UnixMicro()
	for _, q := range []string{
		// 1 available, 2 scheduled with a unique key, 3 running, 4 completed
		// with a result, 5 discarded with errors, 6 deleted afterwards.
		`INSERT INTO jobs (id, kind, queue, priority, args, state, attempt, max_attempts, timeout_ns, enqueued_at, run_at,
			attempted_at, finalized_at, unique_key, unique_until, lease_owner, lease_expires_at, cancel_requested, errors, result) VALUES
			(1, 'a', 'default', 2, '{"n":1}', 'available', 0, 25, 0, ?1, ?1, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL),
			(2, 'b', 'other', 0, '{}', 'scheduled', 0, 3, 5000000000, ?1, ?1 + 60000000, NULL, NULL, 'key', ?1 + 3600000000, NULL, NULL, 0, NULL, NULL),
			(3, 'c', 'default', 0, '{}', 'running', 1, 25, 0, ?1, ?1, ?1, NULL, NULL, NULL, 'w', ?1 + 30000000, 1, NULL, NULL),
			(4, 'd', 'default', 0, '{}', 'completed', 1, 25, 0, ?1, ?1, ?1, ?1, NULL, NULL, NULL, NULL, 0, NULL, '{"ok":true}'),
			(5, 'e', 'default', 0, '{}', 'discarded', 1, 1, 0, ?1, ?1, ?1, ?1, NULL, NULL, NULL, NULL, 0,
				'[{"attempt":1,"at":"2030-01-01T00:00:00Z","error":"boom"}]', NULL),
			(6, 'f', 'default', 0, '{}', 'available', 0, 25, 0, ?1, ?1, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL)`,
		`DELETE FROM jobs WHERE id = 6`,
		`INSERT INTO queue_counts (queue, state, n) VALUES ('default', 'available', 1), ('other', 'scheduled', 1),
			('default', 'running', 1), ('default', 'completed', 1), ('default', 'discarded', 1)`,
		`INSERT INTO queues (name, paused, updated_at) VALUES ('other', 1, ?1)`,
	} {
		if _, err := s.DB().ExecContext(t.Context(), q, now); err != nil {
			t.Fatalf("filling the version 1 database: %v", err)
		}
	}

	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate from version 1: %v", err)
	}
	if v := schemaVersions(t, s); len(v) != 2 {
		t.Fatalf("schema versions after Migrate: %v, want 1 and 2", v)
	}
	checkCounts(t, s)

	jobs, err := s.JobGetMany(t.Context(), []int64{1, 2, 3, 4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 5 {
		t.Fatalf("JobGetMany after the migration returned %d jobs, want 5", len(jobs))
	}
	j1, j2, j3, j4, j5 := jobs[0], jobs[1], jobs[2], jobs[3], jobs[4]
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"job 1 state", j1.State, store.StateAvailable},
		{"job 1 priority", j1.Priority, 2},
		{"job 1 args", string(j1.Args), `{"n":1}`},
		{"job 2 unique key", j2.UniqueKey, "key"},
		{"job 2 unique until", j2.UniqueUntil, t0.Add(time.Hour)},
		{"job 2 timeout", j2.Timeout, 5 * time.Second},
		{"job 2 run at", j2.RunAt, t0.Add(time.Minute)},
		{"job 3 lease owner", j3.LeaseOwner, "w"},
		{"job 3 cancel requested", j3.CancelRequested, true},
		{"job 4 result", string(j4.Result), `{"ok":true}`},
		{"job 5 errors", len(j5.Errors), 1},
		{"job 5 error", j5.Errors[0].Error, "boom"},
		{"job 1 workflow", j1.Workflow, ""},
		{"job 1 deps", len(j1.Deps), 0},
		{"job 1 deps left", j1.DepsLeft, 0},
		{"job 1 run on failure", j1.RunOnFailure, false},
	} {
		if c.got != c.want {
			t.Errorf("%s after the migration: %v, want %v", c.what, c.got, c.want)
		}
	}

	// The sequence was carried over: the next ID is 7, not 6.
	j := insertOne(t, s, "default", t0)
	if j.ID != 7 {
		t.Fatalf("first job inserted after the migration has ID %d, want 7 (6 was used before it)", j.ID)
	}
	// The unique key is still held; the pause still holds.
	res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: []*store.JobInsertParams{
		{Kind: "b", Queue: "other", Args: []byte(`{}`), MaxAttempts: 1, UniqueKey: "key"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Duplicate || res[0].Job.ID != 2 {
		t.Fatalf("insert with the key of job 2: %+v, want a duplicate of job 2", res[0])
	}
	// The old jobs run and finish, and a new job can wait for one.
	waiter, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: []*store.JobInsertParams{
		{Kind: "then", Queue: "default", Args: []byte(`{}`), MaxAttempts: 1, AfterIDs: []int64{1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if w := waiter[0].Job; w.State != store.StateWaiting || w.DepsLeft != 1 {
		t.Fatalf("job waiting for job 1: state %s, deps left %d; want waiting, 1", w.State, w.DepsLeft)
	}
	got, err := s.JobFetch(t.Context(), &store.JobFetchParams{
		Queues: []string{"default", "other"}, Limit: 10, Owner: "w2", Now: t0.Add(2 * time.Minute), LeaseExpiresAt: t0.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 7 {
		t.Fatalf("fetch after the migration returned %v, want jobs 1 and 7 (other is paused)", jobIDs(got))
	}
	applied, err := s.JobSetStateIfRunningMany(t.Context(), []*store.JobSetStateParams{
		{ID: 1, Owner: "w2", Attempt: 1, State: store.StateCompleted, Now: t0.Add(3 * time.Minute)},
		{ID: 3, Owner: "w", Attempt: 1, State: store.StateCancelled, Now: t0.Add(3 * time.Minute)},
	})
	if err != nil || !applied[0] || !applied[1] {
		t.Fatalf("completing jobs 1 and 3 after the migration: %v, %v", applied, err)
	}
	w, err := s.JobGet(t.Context(), waiter[0].Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w.State != store.StateAvailable || w.DepsLeft != 0 {
		t.Fatalf("job waiting for job 1 after it completed: state %s, deps left %d; want available, 0", w.State, w.DepsLeft)
	}
	checkCounts(t, s)
}

// jobIDs returns the IDs of jobs.
func jobIDs(jobs []*store.Job) []int64 {
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	return ids
}
