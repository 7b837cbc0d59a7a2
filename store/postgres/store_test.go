package postgres_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/postgres"
)

// job is a minimal valid insert.
func job(queue string) *store.JobInsertParams {
	return &store.JobInsertParams{Kind: "noop", Queue: queue, Args: json.RawMessage(`{}`), MaxAttempts: 3}
}

// insertOne inserts one job at now through the pool.
func insertOne(t *testing.T, s *postgres.Store, now time.Time, p *store.JobInsertParams) *store.Job {
	t.Helper()
	res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{p}})
	if err != nil {
		t.Fatalf("JobInsertMany: %v", err)
	}
	return res[0].Job
}

// expectWake waits up to timeout for a notification naming queue.
func expectWake(t *testing.T, ch <-chan string, queue string, timeout time.Duration) {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatal("ListenInserts channel closed")
		}
		if got != queue {
			t.Fatalf("woken for queue %q, want %q", got, queue)
		}
	case <-time.After(timeout):
		t.Fatalf("no wake-up for queue %q within %s", queue, timeout)
	}
}

// expectNoWake fails if ch receives anything within wait.
func expectNoWake(t *testing.T, ch <-chan string, wait time.Duration, why string) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("woken for queue %q: %s", got, why)
	case <-time.After(wait):
	}
}

// The issue: "a job exists if and only if the row it is about was
// committed", and nobody is woken for a job that never existed.
func TestJobInsertManyTxCommitsAndRollsBackWithTheCaller(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	wake, err := s.ListenInserts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := s.Pool().Exec(ctx, "CREATE TABLE "+s.Schema()+".users (name text)"); err != nil {
		t.Fatal(err)
	}
	enqueue := func(name string) (int64, pgx.Tx) {
		tx, err := s.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+s.Schema()+".users VALUES ($1)", name); err != nil {
			t.Fatal(err)
		}
		res, err := s.JobInsertManyTx(ctx, tx, &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{job("mail")}})
		if err != nil {
			t.Fatalf("JobInsertManyTx: %v", err)
		}
		return res[0].Job.ID, tx
	}

	id, tx := enqueue("ann")
	if _, err := s.JobGet(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("JobGet of a job in an uncommitted transaction: err = %v, want ErrNotFound", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobGet(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("JobGet of a job whose transaction rolled back: err = %v, want ErrNotFound", err)
	}
	expectNoWake(t, wake, 300*time.Millisecond, "the insert was rolled back")

	id, tx = enqueue("bob")
	expectNoWake(t, wake, 300*time.Millisecond, "the transaction has not committed yet")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if j, err := s.JobGet(ctx, id); err != nil || j.State != store.StateAvailable {
		t.Fatalf("JobGet after commit = %+v, %v; want the available job", j, err)
	}
	expectWake(t, wake, "mail", 5*time.Second)
	jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"mail"}, Limit: 10, Owner: "w", Now: now, LeaseExpiresAt: now.Add(time.Minute)})
	if err != nil || len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("JobFetch after commit = %v, %v; want only job %d (the rolled-back one must not exist)", jobs, err, id)
	}
}

// Several processes starting at once all call Migrate: each version must be
// applied exactly once and every caller must succeed.
func TestMigrateConcurrentlyFromSeveralPools(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	const n = 4
	stores := make([]*postgres.Store, n)
	for i := range stores {
		s, err := postgres.Open(ctx, db.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	for i := range 2 * n { // two goroutines per pool
		wg.Go(func() { errs[i] = stores[i%n].Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate #%d: %v", i, err)
		}
	}
	var versions, distinct int
	err := stores[0].Pool().QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM "+db.Schema+".schema_migrations").Scan(&versions, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if versions == 0 || versions != distinct {
		t.Fatalf("schema_migrations has %d rows for %d versions, want each version once", versions, distinct)
	}
	insertOne(t, stores[n-1], time.Now(), job("default"))
}

// Options.Schema and the URL's boiler_schema: the bad one is named, the
// parameter never reaches the server (which would refuse it), and two
// schemas are two independent queues.
func TestOpenSchemaOptions(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	for _, c := range []struct {
		url, schema, want string
	}{
		{testURL(), "has-dash", `Options.Schema "has-dash"`},
		{testURL(), "1digit", `Options.Schema "1digit"`},
		{testURL(), strings.Repeat("s", 50), "longer than 49 bytes"},
		{db.URL, "other", `Options.Schema "other" and the URL's boiler_schema`},
		{withQuery(t, testURL(), "boiler_schema="), "", "boiler_schema parameter is empty"},
	} {
		_, err := postgres.Open(ctx, c.url, &postgres.Options{Schema: c.schema})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open with Schema %q: err = %v, want one containing %q", c.schema, err, c.want)
		}
	}
	s, err := postgres.Open(ctx, db.URL, &postgres.Options{Schema: db.Schema})
	if err != nil {
		t.Fatalf("Open with Options.Schema equal to the URL's: %v", err)
	}
	defer s.Close()
	if s.Schema() != db.Schema {
		t.Fatalf("Schema() = %q, want the URL's %q", s.Schema(), db.Schema)
	}

	// A second schema in the same database sees none of the first's jobs
	// and hears none of its inserts.
	other := newTestDB(t)
	s2, err := postgres.Open(ctx, testURL(), &postgres.Options{Schema: other.Schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, st := range []*postgres.Store{s, s2} {
		if err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wake2, err := s2.ListenInserts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	insertOne(t, s, now, job("default"))
	expectNoWake(t, wake2, 300*time.Millisecond, "the insert went to another schema")
	stats, err := s2.QueueStats(ctx, &store.QueueStatsParams{Now: now})
	if err != nil || len(stats) != 0 {
		t.Fatalf("QueueStats of the other schema = %v, %v; want no queues", stats, err)
	}
}

// New uses a pool the application owns and leaves it open on Close.
func TestNewLeavesTheApplicationsPoolOpen(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	pool, err := pgxpool.New(ctx, testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := postgres.New(pool, &postgres.Options{Schema: db.Schema})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	insertOne(t, s, time.Now(), job("default"))
	s.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("the application's pool after Store.Close: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("New with an invalid schema did not panic")
			}
		}()
		postgres.New(pool, &postgres.Options{Schema: "no spaces"})
	}()
}

// Three "processes" (stores with their own pools) fetch and complete the
// same queue at once: every job is leased exactly once and completed.
func TestSeveralPoolsDrainAQueueExactlyOnce(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	const total, workers = 600, 3
	stores := make([]*postgres.Store, workers)
	for i := range stores {
		s, err := postgres.Open(ctx, db.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	params := make([]*store.JobInsertParams, total)
	for i := range params {
		params[i] = job("default")
	}
	if _, err := stores[0].JobInsertMany(ctx, &store.JobInsertManyParams{Now: now, Jobs: params}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := make(map[int64]string)
	var wg sync.WaitGroup
	errs := make(chan error, workers*2)
	for w := range workers * 2 { // two fetchers per pool
		owner := fmt.Sprintf("w%d", w)
		s := stores[w%workers]
		wg.Go(func() {
			for {
				jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"default"}, Limit: 25, Owner: owner, Now: now, LeaseExpiresAt: now.Add(time.Minute)})
				if err != nil {
					errs <- err
					return
				}
				if len(jobs) == 0 {
					return
				}
				done := make([]*store.JobSetStateParams, len(jobs))
				mu.Lock()
				for i, j := range jobs {
					if prev, dup := seen[j.ID]; dup {
						errs <- fmt.Errorf("job %d leased to %s and %s", j.ID, prev, owner)
					}
					seen[j.ID] = owner
					done[i] = &store.JobSetStateParams{ID: j.ID, Owner: owner, Attempt: j.Attempt, State: store.StateCompleted, Now: now}
				}
				mu.Unlock()
				ok, err := s.JobSetStateIfRunningMany(ctx, done)
				if err != nil {
					errs <- err
					return
				}
				for i, applied := range ok {
					if !applied {
						errs <- fmt.Errorf("completion of job %d by its owner refused", done[i].ID)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stats, err := stores[1].QueueStats(ctx, &store.QueueStatsParams{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != total || len(stats) != 1 || stats[0].Counts[store.StateCompleted] != total {
		t.Fatalf("leased %d distinct jobs, stats %+v; want all %d completed", len(seen), stats, total)
	}
	checkCounts(t, stores[0])
}

// The URL's boiler_ parameters are read and removed; the driver's own
// parameters reach it exactly as written (%20 stays a space).
func TestOpenURLParameters(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	for _, c := range []struct{ param, want string }{
		{"boiler_synchronous_acks=maybe", `boiler_synchronous_acks parameter is "maybe", want true or false`},
		{"boiler_shema=x", "unknown URL parameter boiler_shema"},
		{"boiler_schema=a&boiler_schema=b", "boiler_schema parameter is given twice"},
	} {
		_, err := postgres.Open(ctx, withQuery(t, testURL(), c.param), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open with %s: err = %v, want one containing %q", c.param, err, c.want)
		}
	}
	u := withQuery(t, db.URL, "boiler_synchronous_acks=true&options=-c%20statement_timeout%3D4321")
	s, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", u, err)
	}
	defer s.Close()
	var timeout string
	if err := s.Pool().QueryRow(ctx, "SHOW statement_timeout").Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != "4321ms" {
		t.Fatalf("statement_timeout = %q, want the URL's options=-c statement_timeout=4321", timeout)
	}
	// Synchronous acks work end to end.
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	j := insertOne(t, s, now, job("default"))
	jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: []string{"default"}, Limit: 1, Owner: "w", Now: now, LeaseExpiresAt: now.Add(time.Minute)})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("JobFetch = %v, %v", jobs, err)
	}
	ok, err := s.JobSetStateIfRunningMany(ctx, []*store.JobSetStateParams{{ID: j.ID, Owner: "w", Attempt: 1, State: store.StateCompleted, Now: now}})
	if err != nil || !ok[0] {
		t.Fatalf("completing with synchronous acks = %v, %v", ok, err)
	}
}

// withQuery appends raw query parameters to u.
func withQuery(t *testing.T, u, params string) string {
	t.Helper()
	if strings.Contains(u, "?") {
		return u + "&" + params
	}
	return u + "?" + params
}
