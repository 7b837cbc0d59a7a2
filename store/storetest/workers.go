package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func workerTests() []test {
	return []test{
		{"BeatInsertsThenReplaces", testWorkerBeatInsertsThenReplaces},
		{"ListSortedByID", testWorkerListSortedByID},
		{"DeleteByID", testWorkerDeleteByID},
		{"DeleteStaleByHeartbeatBefore", testWorkerDeleteStale},
	}
}

// beat calls WorkerBeat.
func beat(t *testing.T, s store.Store, w *store.WorkerInfo) {
	t.Helper()
	if err := s.WorkerBeat(t.Context(), w); err != nil {
		t.Fatalf("WorkerBeat(%q): %v", w.ID, err)
	}
}

// workers calls WorkerList.
func workers(t *testing.T, s store.Store) []*store.WorkerInfo {
	t.Helper()
	ws, err := s.WorkerList(t.Context())
	if err != nil {
		t.Fatalf("WorkerList: %v", err)
	}
	return ws
}

// deleteWorkers calls WorkerDelete.
func deleteWorkers(t *testing.T, s store.Store, p store.WorkerDeleteParams) int {
	t.Helper()
	n, err := s.WorkerDelete(t.Context(), &p)
	if err != nil {
		t.Fatalf("WorkerDelete(ID %q, HeartbeatBefore %s): %v", p.ID, clock(p.HeartbeatBefore), err)
	}
	return n
}

// workerAt returns a worker called id whose last heartbeat was at hb.
func workerAt(id string, hb time.Time) *store.WorkerInfo {
	return &store.WorkerInfo{
		ID: id, Host: "host-" + id, PID: 100, Queues: []string{"default"}, Concurrency: 10,
		StartedAt: at(0), HeartbeatAt: hb,
	}
}

// workerDiff lists the fields in which got differs from want.
func workerDiff(got, want *store.WorkerInfo) []string {
	var d []string
	field := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("ID", got.ID, want.ID)
	field("Host", got.Host, want.Host)
	field("PID", got.PID, want.PID)
	if !slices.Equal(got.Queues, want.Queues) {
		d = append(d, fmt.Sprintf("Queues = %q, want %q", got.Queues, want.Queues))
	}
	field("Concurrency", got.Concurrency, want.Concurrency)
	field("Running", got.Running, want.Running)
	field("Leader", got.Leader, want.Leader)
	if p := timeProblem(got.StartedAt, want.StartedAt); p != "" {
		d = append(d, "StartedAt = "+p)
	}
	if p := timeProblem(got.HeartbeatAt, want.HeartbeatAt); p != "" {
		d = append(d, "HeartbeatAt = "+p)
	}
	return d
}

// wantWorkers fails unless got is want, entry by entry, in order.
func wantWorkers(t *testing.T, what string, got, want []*store.WorkerInfo) {
	t.Helper()
	ids := func(ws []*store.WorkerInfo) []string {
		out := make([]string, len(ws))
		for i, w := range ws {
			out[i] = w.ID
		}
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("%s: workers %q, want %q (in this order)", what, ids(got), ids(want))
	}
	for i := range got {
		if d := workerDiff(got[i], want[i]); len(d) > 0 {
			t.Fatalf("%s: worker %q differs:\n\t%s", what, want[i].ID, strings.Join(d, "\n\t"))
		}
	}
}

// "WorkerBeat records that a worker process is alive: it inserts or
// replaces the entry with Info.ID": every field round-trips (times to the
// microsecond, in UTC whatever the caller's location), and a second beat
// replaces every field of the entry, leaving one.
func testWorkerBeatInsertsThenReplaces(t *testing.T, s store.Store) {
	if ws := workers(t, s); len(ws) != 0 {
		t.Fatalf("WorkerList of an empty store returned %d workers, want none", len(ws))
	}
	zone := time.FixedZone("UTC-7", -7*60*60)
	first := &store.WorkerInfo{
		ID: "web.1@host-a:4242:01HZX", Host: "host-a", PID: 4242, Queues: []string{"critical", "default", "low"},
		Concurrency: 25, Running: 3, Leader: true,
		StartedAt: at(time.Second + 123456*time.Microsecond).In(zone), HeartbeatAt: at(time.Minute + 7*time.Microsecond).In(zone),
	}
	beat(t, s, first)
	want := *first
	want.StartedAt, want.HeartbeatAt = first.StartedAt.UTC(), first.HeartbeatAt.UTC()
	wantWorkers(t, "WorkerList after the first beat", workers(t, s), []*store.WorkerInfo{&want})

	second := &store.WorkerInfo{
		ID: first.ID, Host: "host-b", PID: 7, Queues: []string{"only"},
		Concurrency: 5, Running: 0, Leader: false,
		StartedAt: at(time.Hour), HeartbeatAt: at(2 * time.Hour),
	}
	beat(t, s, second)
	wantWorkers(t, "WorkerList after a second beat with the same ID", workers(t, s), []*store.WorkerInfo{second})
}

// "WorkerList returns every recorded worker, sorted by ID."
func testWorkerListSortedByID(t *testing.T, s store.Store) {
	var want []*store.WorkerInfo
	for _, id := range []string{"worker-c", "worker-a", "worker-d", "worker-b"} {
		w := workerAt(id, at(time.Minute))
		beat(t, s, w)
		want = append(want, w)
	}
	slices.SortFunc(want, func(a, b *store.WorkerInfo) int { return strings.Compare(a.ID, b.ID) })
	wantWorkers(t, "WorkerList", workers(t, s), want)
}

// "WorkerDelete deletes the worker with params.ID when it is set (a
// worker's clean stop)", then HeartbeatBefore is ignored; "It returns how
// many it deleted": 0 for an unknown ID.
func testWorkerDeleteByID(t *testing.T, s store.Store) {
	a, b, c := workerAt("a", at(time.Minute)), workerAt("b", at(time.Second)), workerAt("c", at(time.Hour))
	for _, w := range []*store.WorkerInfo{a, b, c} {
		beat(t, s, w)
	}
	if n := deleteWorkers(t, s, store.WorkerDeleteParams{ID: "b"}); n != 1 {
		t.Fatalf("WorkerDelete(ID b) returned %d, want 1", n)
	}
	wantWorkers(t, "WorkerList after deleting b", workers(t, s), []*store.WorkerInfo{a, c})
	// With ID set, HeartbeatBefore does not delete the stale ones.
	if n := deleteWorkers(t, s, store.WorkerDeleteParams{ID: "c", HeartbeatBefore: at(24 * time.Hour)}); n != 1 {
		t.Fatalf("WorkerDelete(ID c, HeartbeatBefore base+24h) returned %d, want 1 (only c)", n)
	}
	wantWorkers(t, "WorkerList after deleting c by ID", workers(t, s), []*store.WorkerInfo{a})
	if n := deleteWorkers(t, s, store.WorkerDeleteParams{ID: "b"}); n != 0 {
		t.Fatalf("WorkerDelete(ID b) of a deleted worker returned %d, want 0", n)
	}
	wantWorkers(t, "WorkerList after deleting an unknown ID", workers(t, s), []*store.WorkerInfo{a})
}

// "otherwise every worker whose HeartbeatAt is before
// params.HeartbeatBefore": strictly before; the count is returned.
func testWorkerDeleteStale(t *testing.T, s store.Store) {
	var all []*store.WorkerInfo
	for i := range 5 {
		w := workerAt(fmt.Sprintf("w%d", i), at(time.Duration(i)*time.Minute))
		beat(t, s, w)
		all = append(all, w)
	}
	// A fresh beat of w0 saves it from the cleaner.
	fresh := workerAt("w0", at(10*time.Minute))
	beat(t, s, fresh)
	if n := deleteWorkers(t, s, store.WorkerDeleteParams{HeartbeatBefore: at(3 * time.Minute)}); n != 2 {
		t.Fatalf("WorkerDelete(HeartbeatBefore base+3m) returned %d, want 2 (w1 at +1m, w2 at +2m)", n)
	}
	wantWorkers(t, "WorkerList after deleting the stale workers", workers(t, s), []*store.WorkerInfo{fresh, all[3], all[4]})
	if n := deleteWorkers(t, s, store.WorkerDeleteParams{HeartbeatBefore: at(3 * time.Minute)}); n != 0 {
		t.Fatalf("second WorkerDelete(HeartbeatBefore base+3m) returned %d, want 0", n)
	}
	if n := deleteWorkers(t, s, store.WorkerDeleteParams{HeartbeatBefore: at(time.Hour)}); n != 3 {
		t.Fatalf("WorkerDelete(HeartbeatBefore base+1h) returned %d, want 3", n)
	}
	if ws := workers(t, s); len(ws) != 0 {
		t.Fatalf("WorkerList after deleting every worker returned %d workers", len(ws))
	}
}
