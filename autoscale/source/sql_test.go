package source_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver

	"github.com/doubleboiler/boiler/autoscale/source"
)

// postgresSchema opens the test PostgreSQL and creates a fresh schema,
// dropped when the test ends.
func postgresSchema(t *testing.T) (*sql.DB, string) {
	t.Helper()
	db, err := sql.Open("pgx", postgresURL())
	if err != nil {
		t.Fatalf("BOILER_TEST_POSTGRES_URL: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(pingCtx(t)); err != nil {
		unreachable(t, "PostgreSQL", err)
	}
	schema := randomName("boiler_test_autoscale_")
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE") })
	return db, schema
}

// TestSQLDelayedJobOnPostgres counts a delayed_job table the way the
// SQLOptions example does: runnable, unlocked, not failed.
func TestSQLDelayedJobOnPostgres(t *testing.T) {
	t.Parallel()
	db, schema := postgresSchema(t)
	ctx := t.Context()
	table := schema + ".delayed_jobs"
	for _, q := range []string{
		`CREATE TABLE ` + table + ` (id serial PRIMARY KEY, queue text, run_at timestamptz, locked_at timestamptz, failed_at timestamptz)`,
		`INSERT INTO ` + table + ` (queue, run_at) SELECT 'mail', now() - interval '90 seconds' FROM generate_series(1, 12)`,
		`INSERT INTO ` + table + ` (queue, run_at) VALUES ('mail', now() - interval '5 seconds')`,
		`INSERT INTO ` + table + ` (queue, run_at) VALUES ('mail', now() + interval '1 hour')`,                   // future
		`INSERT INTO ` + table + ` (queue, run_at, locked_at) VALUES ('mail', now() - interval '1 hour', now())`, // running
		`INSERT INTO ` + table + ` (queue, run_at, failed_at) VALUES ('mail', now() - interval '1 hour', now())`, // failed
		`INSERT INTO ` + table + ` (queue, run_at) VALUES ('reports', now() - interval '1 hour')`,                // other queue
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	src, err := source.NewSQL(db, source.SQLOptions{
		Query: `SELECT count(*), EXTRACT(EPOCH FROM now() - min(run_at)) FROM ` + table + `
			WHERE queue = $1 AND run_at <= now() AND locked_at IS NULL AND failed_at IS NULL`,
		Args: []any{"mail"},
		Now:  fixedNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Backlog != 13 || m.OldestAge < 90*time.Second || m.OldestAge > 2*time.Minute || !m.ReadAt.Equal(t0) {
		t.Fatalf("metric %+v, want backlog 13, oldest about 90 s", m)
	}

	// An empty table: count 0, age NULL.
	if _, err := db.ExecContext(ctx, "DELETE FROM "+table); err != nil {
		t.Fatal(err)
	}
	if m, err = src.Backlog(ctx); err != nil || m.Backlog != 0 || m.OldestAge != 0 {
		t.Fatalf("empty: %+v, %v", m, err)
	}
}

func TestSQLCountOnSQLite(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE jobs (id INTEGER PRIMARY KEY, done INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := db.ExecContext(ctx, `INSERT INTO jobs (done) VALUES (?)`, i%3 == 0); err != nil {
			t.Fatal(err)
		}
	}
	src, err := source.NewSQL(db, source.SQLOptions{Query: `SELECT count(*) FROM jobs WHERE done = 0`, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := src.Backlog(ctx); err != nil || m.Backlog != 6 || m.OldestAge != 0 {
		t.Fatalf("metric %+v, %v; want backlog 6", m, err)
	}

	for _, c := range []struct{ query, want string }{
		{`SELECT 1, 2, 3`, "3 columns"},
		{`SELECT id FROM jobs WHERE id < 0`, "no row"},
		{`SELECT id FROM jobs`, "more than one row"},
		{`SELECT -4`, "negative count"},
		{`SELECT count(*) FROM missing_table`, "running the backlog query"},
		{`SELECT 'many'`, "reading the backlog query's row"},
	} {
		src, _ := source.NewSQL(db, source.SQLOptions{Query: c.query})
		if _, err := src.Backlog(ctx); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.query, err, c.want)
		}
	}
	if _, err := source.NewSQL(db, source.SQLOptions{Query: "  "}); err == nil || !strings.Contains(err.Error(), "Query") {
		t.Fatalf("empty query: %v", err)
	}
	if _, err := source.NewSQL(nil, source.SQLOptions{Query: "SELECT 1"}); err == nil {
		t.Fatal("nil db: no error")
	}
}
