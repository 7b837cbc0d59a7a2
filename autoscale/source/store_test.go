package source_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/autoscale/source"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// openStore opens a migrated SQLite store in a temp dir.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "boiler.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// insert puts n jobs in queue, due at runAt, enqueued at now.
func insert(t *testing.T, st store.Store, queue string, n int, now, runAt time.Time) {
	t.Helper()
	params := &store.JobInsertManyParams{Now: now}
	for range n {
		params.Jobs = append(params.Jobs, &store.JobInsertParams{Kind: "email", Queue: queue,
			Args: json.RawMessage(`{}`), MaxAttempts: 25, RunAt: runAt})
	}
	if _, err := st.JobInsertMany(t.Context(), params); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSourceCountsNamedQueues(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := t.Context()
	insert(t, st, "high", 3, t0.Add(-2*time.Minute), t0.Add(-2*time.Minute)) // waited 2 min
	insert(t, st, "default", 4, t0.Add(-30*time.Second), time.Time{})        // available since -30 s
	insert(t, st, "default", 5, t0.Add(-time.Hour), t0.Add(time.Hour))       // scheduled: not yet
	insert(t, st, "low", 7, t0.Add(-time.Hour), t0.Add(-time.Hour))          // not considered
	insert(t, st, "paused", 9, t0.Add(-time.Hour), t0.Add(-time.Hour))       // paused
	if err := st.QueuePause(ctx, "paused"); err != nil {
		t.Fatal(err)
	}

	src, err := source.NewStore(st, source.StoreOptions{Queues: []string{"high", "default", "paused", "absent"}, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	m, err := src.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Backlog != 7 || m.OldestAge != 2*time.Minute || !m.ReadAt.Equal(t0) {
		t.Fatalf("metric %+v, want backlog 7 (3 high + 4 default), oldest 2m0s, read at t0", m)
	}

	all, _ := source.NewStore(st, source.StoreOptions{Now: fixedNow})
	m, err = all.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Backlog != 14 || m.OldestAge != time.Hour {
		t.Fatalf("every queue: %+v, want backlog 14 (paused left out), oldest 1h", m)
	}
}

func TestStoreSourceErrors(t *testing.T) {
	t.Parallel()
	if _, err := source.NewStore(nil, source.StoreOptions{}); err == nil {
		t.Fatal("nil store: no error")
	}
	st := openStore(t)
	if _, err := source.NewStore(st, source.StoreOptions{Queues: []string{"high", ""}}); err == nil || !strings.Contains(err.Error(), "queue 2") {
		t.Fatalf("empty queue name: %v", err)
	}
	src, _ := source.NewStore(st, source.StoreOptions{Now: fixedNow})
	_ = st.Close()
	if _, err := src.Backlog(t.Context()); err == nil || !strings.Contains(err.Error(), "reading queue stats") {
		t.Fatalf("closed store: %v", err)
	}
}
