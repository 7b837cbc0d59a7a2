package maintenance

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func workers(t *testing.T, s store.Store) []*store.WorkerInfo {
	t.Helper()
	list, err := s.WorkerList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestRegistrarBeatsAndDeletesAtStop(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	var running atomic.Int64
	var leader atomic.Bool
	now := t0
	r, err := NewRegistrar(&RegistrarParams{
		Store: s,
		Info: func() *store.WorkerInfo {
			return &store.WorkerInfo{
				ID: "w1", Host: "h", PID: 42, Queues: []string{"a", "b"}, Concurrency: 7,
				Running: int(running.Load()), Leader: leader.Load(), StartedAt: t0,
			}
		},
		Interval: time.Hour, // beats only at start and when poked
		Clock:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first beat", func() bool { return len(workers(t, s)) == 1 })
	w := workers(t, s)[0]
	if w.ID != "w1" || w.Host != "h" || w.PID != 42 || len(w.Queues) != 2 || w.Concurrency != 7 ||
		w.Leader || !w.StartedAt.Equal(t0) || !w.HeartbeatAt.Equal(t0) {
		t.Fatalf("entry %+v", w)
	}
	running.Store(3)
	leader.Store(true)
	r.Poke()
	eventually(t, "the poked beat", func() bool {
		w := workers(t, s)
		return len(w) == 1 && w[0].Leader && w[0].Running == 3
	})
	r.Stop()
	if n := len(workers(t, s)); n != 0 {
		t.Fatalf("%d workers after Stop, want the entry deleted", n)
	}
}

func TestCleanerDeletesStaleWorkers(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	for id, beat := range map[string]time.Time{"dead": t0, "alive": t0.Add(9 * time.Minute)} {
		if err := s.WorkerBeat(ctx, &store.WorkerInfo{ID: id, StartedAt: t0, HeartbeatAt: beat}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := NewCleaner(&CleanerParams{
		Store: s, WorkerStaleAfter: 10 * time.Minute,
		Clock: func() time.Time { return t0.Add(15 * time.Minute) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.CleanWorkers(ctx); n != 1 {
		t.Fatalf("deleted %d workers, want 1", n)
	}
	if w := workers(t, s); len(w) != 1 || w[0].ID != "alive" {
		t.Fatalf("workers left: %v", w)
	}
}

func TestRegistrarParamsValidation(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	info := func() *store.WorkerInfo { return &store.WorkerInfo{ID: "w"} }
	for _, p := range []*RegistrarParams{
		{Info: info, Interval: time.Second},
		{Store: s, Interval: time.Second},
		{Store: s, Info: info},
		{Store: s, Info: func() *store.WorkerInfo { return &store.WorkerInfo{} }, Interval: time.Second},
	} {
		if _, err := NewRegistrar(p); err == nil {
			t.Errorf("NewRegistrar(%+v): no error", p)
		}
	}
}
