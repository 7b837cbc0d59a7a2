package periodic

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a fake clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// logBuffer collects a scheduler's logs.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// newScheduler returns a scheduler on s with the fake clock c and its log.
func newScheduler(t *testing.T, s Store, c *clock, holder string, defs ...*store.PeriodicJob) (*Scheduler, *logBuffer) {
	t.Helper()
	log := &logBuffer{}
	sch, err := New(&Params{
		Store: s, Holder: holder, Definitions: defs, LeaderLease: 15 * time.Second,
		Clock: c.Now, Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sch, log
}

func def(name, spec string, catchUp store.CatchUp) *store.PeriodicJob {
	return &store.PeriodicJob{
		Name: name, Spec: spec, Kind: "tick", Args: []byte(`{"n":1}`), Queue: "cron",
		MaxAttempts: 3, CatchUp: catchUp, Source: "code",
	}
}

// ticksOf returns the ticks of the jobs enqueued for name, oldest first,
// from their unique keys, and fails on a tick enqueued twice.
func ticksOf(t *testing.T, s store.Store, name string) []string {
	t.Helper()
	jobs, err := s.JobList(context.Background(), &store.JobListParams{Kind: "tick", Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	prefix := "periodic:" + name + ":"
	var ticks []string
	seen := map[string]bool{}
	for i := len(jobs) - 1; i >= 0; i-- {
		j := jobs[i]
		tick, ok := strings.CutPrefix(j.UniqueKey, prefix)
		if !ok {
			continue
		}
		if seen[tick] {
			t.Fatalf("tick %s of %s enqueued twice", tick, name)
		}
		seen[tick] = true
		ticks = append(ticks, tick)
		if j.Queue != "cron" || j.MaxAttempts != 3 || string(j.Args) != `{"n":1}` {
			t.Fatalf("job of %s: %+v", name, j)
		}
	}
	return ticks
}

func entry(t *testing.T, s store.Store, name string) *store.PeriodicJob {
	t.Helper()
	list, err := s.PeriodicList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no periodic job %s in %v", name, list)
	return nil
}

func rfc(d time.Duration) string { return at(d).Format(time.RFC3339) }

func TestSchedulerOneLeaderFiresEachTickOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	c := &clock{now: at(500 * time.Millisecond)}
	a, _ := newScheduler(t, s, c, "a", def("every10s", "@every 10s", ""))
	b, _ := newScheduler(t, s, c, "b", def("every10s", "@every 10s", ""))

	a.Step(ctx)
	b.Step(ctx)
	if !a.Leader() || b.Leader() {
		t.Fatalf("leaders: a %v, b %v; want a alone", a.Leader(), b.Leader())
	}
	if e := entry(t, s, "every10s"); !e.NextTick.Equal(at(10*time.Second)) || e.Source != "code" {
		t.Fatalf("entry after the first cycle: %+v", e)
	}
	for range 10 { // 50 s in 5 s steps, both stepping
		c.Add(5 * time.Second)
		if wait := a.Step(ctx); wait > time.Second {
			t.Fatalf("the leader sleeps %s, more than MaxSleep", wait)
		}
		b.Step(ctx)
	}
	want := []string{rfc(10 * time.Second), rfc(20 * time.Second), rfc(30 * time.Second), rfc(40 * time.Second), rfc(50 * time.Second)}
	if got := ticksOf(t, s, "every10s"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("ticks %v, want %v", got, want)
	}
	e := entry(t, s, "every10s")
	if !e.LastTick.Equal(at(50*time.Second)) || !e.NextTick.Equal(at(60*time.Second)) || e.LastJobID == 0 {
		t.Fatalf("entry: %+v", e)
	}
}

// TestSchedulerFailover: the leader dies (stops stepping); the other
// takes over once the lease expires, and fires the ticks missed meanwhile
// (on time within the grace), none twice.
func TestSchedulerFailover(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	c := &clock{now: at(500 * time.Millisecond)}
	a, _ := newScheduler(t, s, c, "a", def("every1s", "@every 1s", ""))
	b, blog := newScheduler(t, s, c, "b")
	a.Step(ctx)
	b.Step(ctx)
	for range 6 {
		c.Add(500 * time.Millisecond)
		a.Step(ctx)
		b.Step(ctx)
	}
	// a dies at 3.5 s; its lease runs to 15.5 s at most.
	for range 40 {
		c.Add(500 * time.Millisecond)
		b.Step(ctx)
	}
	if !b.Leader() {
		t.Fatalf("b is not the leader 20 s after a died:\n%s", blog)
	}
	got := ticksOf(t, s, "every1s")
	for i, tick := range got {
		if want := rfc(time.Duration(i+1) * time.Second); tick != want {
			t.Fatalf("tick %d is %s, want %s (all: %v)", i, tick, want, got)
		}
	}
	if len(got) != 23 {
		t.Fatalf("%d ticks fired by 23.5 s, want 23: %v", len(got), got)
	}
	// a wakes up (a long pause, not a death): it must not fire again.
	c.Add(100 * time.Millisecond)
	a.Step(ctx)
	if a.Leader() {
		t.Fatal("a still believes it leads after its lease expired and b won")
	}
	if n := len(ticksOf(t, s, "every1s")); n != 23 {
		t.Fatalf("%d ticks after a woke up, want 23", n)
	}
}

// TestSchedulerResignHandsOver: a stopping leader resigns, and another
// scheduler wins at its next campaign, not after the lease.
func TestSchedulerResignHandsOver(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	c := &clock{now: at(0)}
	var changes []bool
	a, _ := newScheduler(t, s, c, "a")
	a.p.OnLeaderChange = func(l bool) { changes = append(changes, l) }
	b, _ := newScheduler(t, s, c, "b")
	a.Step(ctx)
	b.Step(ctx)
	a.Resign(ctx)
	if a.Leader() || len(changes) != 2 || !changes[0] || changes[1] {
		t.Fatalf("after Resign: leader %v, changes %v", a.Leader(), changes)
	}
	c.Add(5 * time.Second) // b's next campaign, well before a's 15 s lease
	b.Step(ctx)
	if !b.Leader() {
		t.Fatal("b did not win after a resigned")
	}
}

func TestSchedulerCatchUp(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy store.CatchUp
		want   []string
		log    string
	}{
		{store.CatchUpOnce, []string{rfc(72 * time.Hour)}, "enqueued one run for the newest missed tick"},
		{"", []string{rfc(72 * time.Hour)}, "catch_up=once"},
		{store.CatchUpSkip, nil, "skipped the missed ticks"},
		{store.CatchUpAll, []string{rfc(24 * time.Hour), rfc(48 * time.Hour), rfc(72 * time.Hour)}, "enqueued every missed tick"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			ctx := context.Background()
			c := &clock{now: at(time.Hour)}
			a, _ := newScheduler(t, s, c, "a", def("daily", "@daily", tc.policy))
			a.Step(ctx)
			a.Resign(ctx) // every container idle for three days
			c.Set(at(3*24*time.Hour + 5*time.Hour))
			b, blog := newScheduler(t, s, c, "b")
			b.Step(ctx)
			got := ticksOf(t, s, "daily")
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("ticks %v, want %v\n%s", got, tc.want, blog)
			}
			logs := blog.String()
			for _, want := range []string{"missed ticks", "name=daily", "missed=3", tc.log} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %q:\n%s", want, logs)
				}
			}
			e := entry(t, s, "daily")
			if !e.LastTick.Equal(at(72*time.Hour)) || !e.NextTick.Equal(at(96*time.Hour)) {
				t.Fatalf("entry after the catch-up: %+v", e)
			}
			// The next cycles do nothing more until the next tick.
			c.Add(time.Hour)
			b.Step(ctx)
			if n := len(ticksOf(t, s, "daily")); n != len(tc.want) {
				t.Fatalf("%d ticks after another cycle, want %d", n, len(tc.want))
			}
		})
	}
}

// TestSchedulerPicksUpNewEntries: an entry written by someone else (the
// API, another container) fires from its first tick after creation.
func TestSchedulerPicksUpNewEntries(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	c := &clock{now: at(0)}
	a, _ := newScheduler(t, s, c, "a")
	a.Step(ctx)
	c.Add(time.Hour)
	d := def("api", "@every 1m", "")
	d.CreatedAt, d.UpdatedAt = c.Now(), c.Now()
	if _, err := s.PeriodicUpsert(ctx, d); err != nil {
		t.Fatal(err)
	}
	c.Add(30 * time.Second)
	a.Step(ctx)
	if got := ticksOf(t, s, "api"); len(got) != 0 {
		t.Fatalf("a new entry fired %v before its first tick (no back-fill)", got)
	}
	c.Add(30 * time.Second)
	a.Step(ctx)
	if got := ticksOf(t, s, "api"); len(got) != 1 || got[0] != rfc(61*time.Minute) {
		t.Fatalf("ticks %v, want [%s]", got, rfc(61*time.Minute))
	}
}

func TestSchedulerBadSpecIsReportedOnce(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	c := &clock{now: at(0)}
	bad := def("bad", "every day", "")
	bad.CreatedAt, bad.UpdatedAt = at(0), at(0)
	if _, err := s.PeriodicUpsert(ctx, bad); err != nil {
		t.Fatal(err)
	}
	a, log := newScheduler(t, s, c, "a", def("good", "@every 1m", ""))
	for range 3 {
		c.Add(time.Minute)
		a.Step(ctx)
	}
	if n := strings.Count(log.String(), "bad schedule"); n != 1 {
		t.Fatalf("bad schedule reported %d times:\n%s", n, log)
	}
	if got := ticksOf(t, s, "good"); len(got) != 2 { // declared at 1m: ticks 2m and 3m
		t.Fatalf("the good entry fired %v", got)
	}
}

func TestSchedulerUndeclaredEntriesAreReported(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	c := &clock{now: at(0)}
	old := def("old", "@every 1m", "")
	old.CreatedAt, old.UpdatedAt = at(0), at(0)
	if _, err := s.PeriodicUpsert(ctx, old); err != nil {
		t.Fatal(err)
	}
	a, log := newScheduler(t, s, c, "a", def("new", "@every 1m", ""))
	a.Step(ctx)
	if !strings.Contains(log.String(), "not declared by this worker") || !strings.Contains(log.String(), "name=old") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestSchedulerStartStop(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	var mu sync.Mutex
	var changes []bool
	sch, err := New(&Params{
		Store: s, Holder: "w", LeaderLease: time.Second,
		OnLeaderChange: func(l bool) { mu.Lock(); changes = append(changes, l); mu.Unlock() },
		Logger:         slog.New(slog.NewTextHandler(&logBuffer{}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !sch.Leader() {
		if time.Now().After(deadline) {
			t.Fatal("no leadership within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	sch.Stop()
	mu.Lock()
	defer mu.Unlock()
	if sch.Leader() || len(changes) != 2 {
		t.Fatalf("after Stop: leader %v, changes %v", sch.Leader(), changes)
	}
	// Resigned: another holder wins at once.
	won, err := s.LeaderElect(context.Background(), &store.LeaderElectParams{
		Name: LeaderName, Holder: "other", Now: time.Now(), ExpiresAt: time.Now().Add(time.Second),
	})
	if err != nil || !won {
		t.Fatalf("after Stop another holder did not win: %v, %v", won, err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	for _, p := range []*Params{
		{Holder: "a"},
		{Store: s},
		{Store: s, Holder: "a", LeaderLease: time.Second, RenewEvery: time.Second},
		{Store: s, Holder: "a", Grace: -1},
	} {
		if _, err := New(p); err == nil {
			t.Errorf("New(%+v): no error", p)
		}
	}
}
