package boiler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// argsWithOpts declare a queue and a unique key of their own.
type argsWithOpts struct{ N int }

func (argsWithOpts) Kind() string { return "with_opts" }
func (argsWithOpts) EnqueueOptions() EnqueueOptions {
	return EnqueueOptions{Queue: "own", Priority: 2, UniqueKey: "mine", RunIn: time.Hour}
}

func TestPeriodicDefinition(t *testing.T) {
	t.Parallel()
	d, err := (&PeriodicJob{Spec: " @every 10m ", Args: noopArgs{N: 3}}).Definition()
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "noop-"+d.Name[len("noop-"):] || len(d.Name) != len("noop-")+8 || d.Spec != "@every 10m" ||
		d.Kind != "noop" || string(d.Args) != `{"n":3}` || d.Queue != DefaultQueue || d.MaxAttempts != DefaultMaxAttempts ||
		d.CatchUp != store.CatchUpOnce || d.Source != PeriodicSourceCode {
		t.Fatalf("definition %+v", d)
	}
	// The default name does not depend on the schedule: a new schedule
	// updates the same entry.
	d2, _ := (&PeriodicJob{Spec: "@hourly", Args: noopArgs{N: 3}}).Definition()
	d3, _ := (&PeriodicJob{Spec: "@hourly", Args: noopArgs{N: 4}}).Definition()
	if d2.Name != d.Name || d3.Name == d.Name {
		t.Fatalf("names %q, %q, %q: want the first two equal, the third different", d.Name, d2.Name, d3.Name)
	}
	raw, err := (&PeriodicJob{Spec: "0 3 * * *", Kind: "cleanup", Source: PeriodicSourceCLI,
		Options: &EnqueueOptions{Queue: "low", Priority: -1, MaxAttempts: 2, Timeout: time.Minute},
		CatchUp: store.CatchUpAll}).Definition()
	if err != nil {
		t.Fatal(err)
	}
	if raw.Name != "cleanup" || string(raw.Args) != "{}" || raw.Queue != "low" || raw.Priority != -1 ||
		raw.MaxAttempts != 2 || raw.Timeout != time.Minute || raw.CatchUp != store.CatchUpAll || raw.Source != "cli" {
		t.Fatalf("definition %+v", raw)
	}
	// The args' own options apply, but not their schedule nor their key.
	own, err := (&PeriodicJob{Name: "own", Spec: "@daily", Args: argsWithOpts{}}).Definition()
	if err != nil {
		t.Fatal(err)
	}
	if own.Queue != "own" || own.Priority != 2 {
		t.Fatalf("definition %+v", own)
	}
	if got := periodicName("a b/c", []byte("{}")); got != "a_b_c" {
		t.Fatalf("periodicName = %q", got)
	}
}

func TestPeriodicValidation(t *testing.T) {
	t.Parallel()
	s := setup(t)
	for _, tc := range []struct {
		jobs []*PeriodicJob
		want string
	}{
		{[]*PeriodicJob{{Spec: "@every 10m", Args: noopArgs{}}, nil}, "Periodic[1] ((nil)): is nil"},
		{[]*PeriodicJob{{Name: "r", Spec: "0 25 * * *", Kind: "report"}}, `Periodic[0] ("r"): schedule "0 25 * * *"`},
		{[]*PeriodicJob{{Spec: "", Kind: "report"}}, `Periodic[0] (report ""): empty schedule`},
		{[]*PeriodicJob{{Spec: "@daily"}}, "job kind is empty"},
		{[]*PeriodicJob{{Spec: "@daily", Args: noopArgs{}, Kind: "x"}}, "set either Args, or Kind and RawArgs"},
		{[]*PeriodicJob{{Spec: "@daily", Kind: "x", RawArgs: []byte("{")}}, "args of x are not valid JSON"},
		{[]*PeriodicJob{{Spec: "@daily", Kind: "x", Options: &EnqueueOptions{RunIn: time.Second}}}, "RunAt and RunIn must be zero"},
		{[]*PeriodicJob{{Spec: "@daily", Kind: "x", Options: &EnqueueOptions{UniqueKey: "k"}}}, "UniqueKey and UniqueFor must be zero"},
		{[]*PeriodicJob{{Spec: "@daily", Kind: "x", Options: &EnqueueOptions{Queue: "a b"}}}, "Queue: queue name"},
		{[]*PeriodicJob{{Spec: "@daily", Kind: "x", CatchUp: "later"}}, `CatchUp "later" is not a policy`},
		{[]*PeriodicJob{{Name: "a\nb", Spec: "@daily", Kind: "x"}}, "control character"},
		{[]*PeriodicJob{{Spec: "@daily", Kind: "x"}, {Spec: "@hourly", Kind: "x"}}, `Periodic[1] (x "@hourly") and Periodic[0] are both named "x"`},
	} {
		_, err := NewWorker(s.store, s.reg, &WorkerOptions{Periodic: tc.jobs})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "new worker: ") {
			t.Errorf("NewWorker with %d periodic jobs: error %v, want one containing %q", len(tc.jobs), err, tc.want)
		}
	}
	if _, err := NewWorker(s.store, s.reg, &WorkerOptions{LeaderLease: time.Millisecond}); err == nil ||
		!strings.Contains(err.Error(), "LeaderLease must be at least") {
		t.Errorf("LeaderLease 1ms: %v", err)
	}
}

func TestClientPeriodic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	row, err := b.client.PeriodicUpsert(ctx, &PeriodicJob{Spec: "@every 1h", Kind: "noop", RawArgs: []byte(` { "n" : 1 } `)})
	if err != nil {
		t.Fatal(err)
	}
	if row.Source != PeriodicSourceAPI || string(row.Args) != `{"n":1}` || row.CreatedAt.IsZero() {
		t.Fatalf("upserted %+v", row)
	}
	list, err := b.client.PeriodicList(ctx)
	if err != nil || len(list) != 1 || list[0].Name != row.Name {
		t.Fatalf("list %v, %v", list, err)
	}
	if err := b.client.PeriodicDelete(ctx, row.Name); err != nil {
		t.Fatal(err)
	}
	if err := b.client.PeriodicDelete(ctx, row.Name); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v, want ErrNotFound", err)
	}
	if _, err := b.client.PeriodicUpsert(ctx, &PeriodicJob{Spec: "nope", Kind: "noop"}); err == nil ||
		!strings.Contains(err.Error(), `periodic job noop "nope": schedule "nope"`) {
		t.Fatalf("bad spec: %v", err)
	}
}

// TestWorkerPeriodicAndRegistry: a worker declares a periodic job, leads,
// runs its ticks, shows in the worker registry as the leader, and leaves
// the registry and the leadership when it stops.
func TestWorkerPeriodicAndRegistry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var mu sync.Mutex
	keys := map[string]int{}
	Handle(b.reg, func(_ context.Context, job *Job[noopArgs]) error {
		mu.Lock()
		keys[job.UniqueKey]++
		mu.Unlock()
		return nil
	})
	w, err := NewWorker(b.store, b.reg, &WorkerOptions{
		ID:          "w1",
		Periodic:    []*PeriodicJob{{Name: "tick", Spec: "@every 1s", Args: noopArgs{N: 1}}},
		LeaderLease: time.Second,
		LeaseFor:    900 * time.Millisecond, // beats every 300 ms
		Concurrency: 3,
		Logger:      testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = w.Stop(ctx)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(keys)
		mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d ticks ran in 20 s, want 3", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !w.Leader() {
		t.Fatal("the only worker is not the leader")
	}
	var me *store.WorkerInfo
	for time.Now().Before(deadline) {
		list, err := b.store.WorkerList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].Leader {
			me = list[0]
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if me == nil || me.ID != "w1" || me.Concurrency != 3 || len(me.Queues) != 1 || me.Queues[0] != DefaultQueue ||
		me.PID == 0 || me.StartedAt.IsZero() || me.HeartbeatAt.Before(me.StartedAt) {
		t.Fatalf("registry entry %+v", me)
	}
	mu.Lock()
	for key, n := range keys {
		if n != 1 || !strings.HasPrefix(key, "periodic:tick:") {
			t.Errorf("job with key %q ran %d times", key, n)
		}
	}
	mu.Unlock()

	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if list, err := b.store.WorkerList(ctx); err != nil || len(list) != 0 {
		t.Fatalf("registry after Stop: %v, %v", list, err)
	}
	if w.Leader() {
		t.Fatal("still the leader after Stop")
	}
	won, err := b.store.LeaderElect(ctx, &store.LeaderElectParams{Name: "periodic", Holder: "next", Now: time.Now(), ExpiresAt: time.Now().Add(time.Second)})
	if err != nil || !won {
		t.Fatalf("the leadership was not handed over at Stop: %v, %v", won, err)
	}
}
