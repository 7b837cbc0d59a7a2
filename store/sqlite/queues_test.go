package sqlite_test

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// OldestAvailableAt is found across every priority of a queue (the fetch
// index is ordered by priority first, so the store walks the priorities),
// the extreme priorities included.
func TestQueueStatsOldestAcrossPriorities(t *testing.T) {
	t.Parallel()
	s := openMigrated(t, filepath.Join(t.TempDir(), "boiler.db"), nil)
	type job struct {
		queue    string
		priority int
		runAt    time.Duration // before now
	}
	jobs := []job{
		{"a", math.MaxInt64, 5 * time.Second},
		{"a", 3, 4 * time.Second},
		{"a", 0, 9 * time.Second}, // the oldest of a
		{"a", math.MinInt64, 6 * time.Second},
		{"b", math.MaxInt64, 7 * time.Second}, // the oldest of b
		{"b", math.MinInt64, 1 * time.Second},
	}
	now := t0.Add(time.Hour)
	ps := make([]*store.JobInsertParams, len(jobs))
	for i, j := range jobs {
		ps[i] = &store.JobInsertParams{
			Kind: "k", Queue: j.queue, Priority: j.priority, Args: json.RawMessage(`{}`), MaxAttempts: 1,
			RunAt: now.Add(-j.runAt),
		}
	}
	if _, err := s.JobInsertMany(t.Context(), &store.JobInsertManyParams{Now: now, Jobs: ps}); err != nil {
		t.Fatal(err)
	}
	stats, err := s.QueueStats(t.Context(), &store.QueueStatsParams{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"a": now.Add(-9 * time.Second), "b": now.Add(-7 * time.Second)}
	if len(stats) != 2 {
		t.Fatalf("QueueStats: %d queues, want a and b", len(stats))
	}
	for _, st := range stats {
		if !st.OldestAvailableAt.Equal(want[st.Name]) {
			t.Errorf("queue %s: OldestAvailableAt %s, want %s", st.Name, st.OldestAvailableAt, want[st.Name])
		}
	}
}
