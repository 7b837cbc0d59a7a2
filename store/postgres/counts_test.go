package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/postgres"
)

// checkCounts fails t unless the counts the store keeps (queue_counts
// plus the deltas not compacted yet) agree with a count of the jobs table.
func checkCounts(t testing.TB, s *postgres.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	read := func(query string) map[string]int64 {
		rows, err := s.Pool().Query(ctx, fmt.Sprintf(query, s.Schema(), s.Schema()))
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
	kept := read(`SELECT queue, state, sum(n)::bigint FROM (
		SELECT queue, state, n FROM %s.queue_counts UNION ALL SELECT queue, state, n FROM %s.queue_count_deltas) AS c
		GROUP BY queue, state HAVING sum(n) <> 0`)
	real := read(`SELECT queue, state, count(*) FROM %s.jobs GROUP BY queue, state -- %s`)
	if !maps.Equal(kept, real) {
		t.Errorf("the kept counts drifted from the jobs table:\n kept %v\n real %v", kept, real)
	}
}

// The migration counts the jobs already there, and the counts stay exact
// through the compactions QueueStats and JobRescue run.
func TestCountsMigrateAndCompact(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	s, err := postgres.Open(ctx, db.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Version 1 only, with jobs in it, as an upgraded installation has.
	if err := s.MigrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, q := range []string{"a", "b"} {
		if _, err := s.Pool().Exec(ctx, fmt.Sprintf(`INSERT INTO %s.jobs (kind, queue, args, state, max_attempts, enqueued_at, run_at)
			SELECT 'k', $1, '{}', 'available', 2, now(), now() FROM generate_series(1, 5)`, db.Schema), q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, s)
	for range 3 {
		insertOne(t, s, now, job("a"))
	}
	jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"b"}, Limit: 5, Owner: "w", Now: now, LeaseExpiresAt: now.Add(-time.Second)})
	if err != nil || len(jobs) != 5 {
		t.Fatalf("JobFetch: %v (%d jobs)", err, len(jobs))
	}
	if n, err := s.JobRescue(ctx, &store.JobRescueParams{Now: now, Limit: 10}); err != nil || n != 5 {
		t.Fatalf("JobRescue: %d, %v; want 5 rescued", n, err)
	}
	checkCounts(t, s)
	var deltas int
	if err := s.Pool().QueryRow(ctx, "SELECT count(*) FROM "+db.Schema+".queue_count_deltas").Scan(&deltas); err != nil {
		t.Fatal(err)
	}
	if deltas != 0 {
		t.Fatalf("%d count deltas left after JobRescue, want them compacted", deltas)
	}
	stats, err := s.QueueStats(ctx, &store.QueueStatsParams{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 || stats[0].Counts[store.StateAvailable] != 8 || stats[1].Counts[store.StateAvailable] != 5 {
		t.Fatalf("QueueStats = %+v, %+v; want a with 8 available, b with 5", stats[0], stats[len(stats)-1])
	}
	// A queue whose jobs are all deleted leaves QueueStats.
	if _, err := s.Pool().Exec(ctx, "DELETE FROM "+db.Schema+".jobs WHERE queue = 'b'"); err != nil {
		t.Fatal(err)
	}
	if stats, err = s.QueueStats(ctx, &store.QueueStatsParams{Now: now}); err != nil || len(stats) != 1 {
		t.Fatalf("QueueStats after deleting queue b's jobs: %d queues, %v; want only a", len(stats), err)
	}
	checkCounts(t, s)
	// TRUNCATE by hand empties the counts.
	if _, err := s.Pool().Exec(ctx, "TRUNCATE "+db.Schema+".jobs"); err != nil {
		t.Fatal(err)
	}
	if stats, err = s.QueueStats(ctx, &store.QueueStatsParams{Now: now}); err != nil || len(stats) != 0 {
		t.Fatalf("QueueStats after TRUNCATE: %d queues, %v; want none", len(stats), err)
	}
	checkCounts(t, s)
}
