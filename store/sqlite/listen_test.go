package sqlite_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// receive returns the next notification of ch, failing after a generous
// timeout.
func receive(t *testing.T, ch <-chan string) (string, bool) {
	t.Helper()
	select {
	case q, ok := <-ch:
		return q, ok
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s")
		return "", false
	}
}

// nothingWaiting fails if ch holds a notification.
func nothingWaiting(t *testing.T, ch <-chan string, after string) {
	t.Helper()
	select {
	case q := <-ch:
		t.Fatalf("after %s: notification %q, want none", after, q)
	default:
	}
}

func listen(t *testing.T, s *sqlite.Store, ctx context.Context) <-chan string {
	t.Helper()
	ch, err := s.ListenInserts(ctx)
	if err != nil {
		t.Fatalf("ListenInserts: %v", err)
	}
	return ch
}

// Every listener hears each insert; many inserts while nobody reads
// coalesce into the one buffered notification; a duplicate is not an
// insert.
func TestListenerFanOutAndCoalescing(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	a, b := listen(t, s, t.Context()), listen(t, s, t.Context())

	insertOne(t, s, "mail", t0)
	for _, ch := range []<-chan string{a, b} {
		if q, _ := receive(t, ch); q != "mail" {
			t.Fatalf("notification %q, want mail", q)
		}
	}

	for range 5 {
		insertOne(t, s, "mail", t0)
	}
	receive(t, a)
	nothingWaiting(t, a, "five unread inserts and one receive")

	p := &store.JobInsertParams{Kind: "k", Queue: "uniq", Args: json.RawMessage(`{}`), MaxAttempts: 1, UniqueKey: "u"}
	if _, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: []*store.JobInsertParams{p}}); err != nil {
		t.Fatal(err)
	}
	receive(t, a)
	res, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: t0, Jobs: []*store.JobInsertParams{p}})
	if err != nil || !res[0].Duplicate {
		t.Fatalf("second insert of unique key: %+v, %v; want a duplicate", res, err)
	}
	nothingWaiting(t, a, "a duplicate insert")
}

// JobInsertManyTx notifies too, and JobRetry (a job made available again).
func TestListenerHearsTxInsertsAndRetries(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	ch := listen(t, s, t.Context())

	tx, err := s.DB().BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	j := insertTx(t, s, tx, "k")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if q, _ := receive(t, ch); q != "default" {
		t.Fatalf("notification %q after JobInsertManyTx, want default", q)
	}
	if _, err := s.JobCancel(t.Context(), &store.JobCancelParams{ID: j.ID, Now: t0}); err != nil {
		t.Fatal(err)
	}
	nothingWaiting(t, ch, "a cancel")
	if _, err := s.JobRetry(t.Context(), &store.JobRetryParams{ID: j.ID, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if q, _ := receive(t, ch); q != "default" {
		t.Fatalf("notification %q after JobRetry, want default", q)
	}
}

// Close closes every listener's channel, and refuses new ones.
func TestListenerClosedByClose(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "boiler.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch := listen(t, s, context.Background())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := receive(t, ch); ok {
		t.Fatal("listener channel still open after Close")
	}
	if _, err := s.ListenInserts(context.Background()); err == nil {
		t.Fatal("ListenInserts after Close: no error")
	}
}
