package sqlite_test

import (
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// insertTx inserts one job of kind in tx through s.
func insertTx(t *testing.T, s *sqlite.Store, tx *sql.Tx, kind string) *store.Job {
	t.Helper()
	res, err := s.JobInsertManyTx(t.Context(), tx, &store.JobInsertManyParams{
		Now:  t0,
		Jobs: []*store.JobInsertParams{{Kind: kind, Queue: "default", Args: json.RawMessage(`{}`), MaxAttempts: 1}},
	})
	if err != nil {
		t.Fatalf("JobInsertManyTx: %v", err)
	}
	return res[0].Job
}

// createTodos adds the caller's own table, whose rows are enqueued with.
func createTodos(t *testing.T, db *sql.DB) {
	t.Helper()
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE IF NOT EXISTS todos (title TEXT)`); err != nil {
		t.Fatal(err)
	}
}

// Jobs inserted in the caller's transaction exist exactly when the
// caller's own writes do.
func TestJobInsertManyTxCommitsAndRollsBackWithTheCaller(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	createTodos(t, s.DB())

	for _, commit := range []bool{true, false} {
		tx, err := s.DB().BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(t.Context(), `INSERT INTO todos (title) VALUES ('x')`); err != nil {
			t.Fatal(err)
		}
		j := insertTx(t, s, tx, "with-todo")
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.JobGet(t.Context(), j.ID)
		switch {
		case commit && err != nil:
			t.Fatalf("JobGet of a job enqueued in a committed transaction: %v", err)
		case !commit && !errors.Is(err, store.ErrNotFound):
			t.Fatalf("JobGet of a job enqueued in a rolled back transaction: %v, want ErrNotFound", err)
		}
	}
	var todos int
	if err := s.DB().QueryRowContext(t.Context(), `SELECT count(*) FROM todos`).Scan(&todos); err != nil {
		t.Fatal(err)
	}
	stats, err := s.QueueStats(t.Context(), &store.QueueStatsParams{Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if todos != 1 || len(stats) != 1 || stats[0].Counts[store.StateAvailable] != 1 {
		t.Fatalf("after one commit and one rollback: %d todos, stats %+v; want 1 todo and 1 available job", todos, stats)
	}
	checkCounts(t, s)
}

// A transaction of another *sql.DB on the same file (the application's
// own handle) works too.
func TestJobInsertManyTxWithTheCallersOwnDB(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "boiler.db")
	s := openMigrated(t, path, nil)
	app, err := sql.Open("sqlite", path+"?_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	createTodos(t, app)

	tx, err := app.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(t.Context(), `INSERT INTO todos (title) VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	j := insertTx(t, s, tx, "from-app")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := s.JobGet(t.Context(), j.ID)
	if err != nil || got.Kind != "from-app" {
		t.Fatalf("JobGet of a job enqueued in the application's transaction: %v, %v", got, err)
	}
	checkCounts(t, s)
}

func TestJobInsertManyTxNilTransaction(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	if _, err := s.JobInsertManyTx(t.Context(), nil, &store.JobInsertManyParams{Now: t0}); err == nil {
		t.Fatal("JobInsertManyTx with a nil transaction: no error")
	}
}
