package periodic

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/schedule"
	"github.com/doubleboiler/boiler/store"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func mustSched(t testing.TB, spec string) *schedule.Schedule {
	t.Helper()
	sc, err := schedule.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func TestPlanTicks(t *testing.T) {
	t.Parallel()
	minutely := mustSched(t, "@every 1m")
	daily := mustSched(t, "@daily")
	for _, tc := range []struct {
		name     string
		sched    Schedule
		last     time.Time
		created  time.Time
		catchUp  store.CatchUp
		now      time.Time
		fire     []time.Time
		skip     time.Time
		missed   int
		capped   int
		next     time.Time
		maxCatch int
	}{
		{
			name: "not due", sched: minutely, last: at(0), now: at(59 * time.Second),
			next: at(time.Minute),
		},
		{
			name: "due on time", sched: minutely, last: at(0), now: at(time.Minute + 300*time.Millisecond),
			fire: []time.Time{at(time.Minute)}, next: at(2 * time.Minute),
		},
		{
			name: "exactly at the tick", sched: minutely, last: at(0), now: at(time.Minute),
			fire: []time.Time{at(time.Minute)}, next: at(2 * time.Minute),
		},
		{
			// Within the grace (1 min here) every tick fires, late: a
			// leader replaced after its lease expired.
			name: "late within the grace", sched: mustSched(t, "@every 10s"), last: at(0), now: at(45 * time.Second),
			fire: []time.Time{at(10 * time.Second), at(20 * time.Second), at(30 * time.Second), at(40 * time.Second)},
			next: at(50 * time.Second),
		},
		{
			name: "gap once: one run for the newest missed tick, then the on-time one", sched: minutely,
			last: at(0), now: at(10*time.Minute + time.Second),
			fire:   []time.Time{at(9 * time.Minute), at(10 * time.Minute)},
			missed: 9, next: at(11 * time.Minute),
		},
		{
			name: "gap once, daily: one run", sched: daily, last: at(0), catchUp: store.CatchUpOnce,
			now:  at(3*24*time.Hour + 5*time.Hour),
			fire: []time.Time{at(3 * 24 * time.Hour)}, missed: 3, next: at(4 * 24 * time.Hour),
		},
		{
			name: "gap skip: recorded, not run", sched: daily, last: at(0), catchUp: store.CatchUpSkip,
			now:  at(3*24*time.Hour + 5*time.Hour),
			skip: at(3 * 24 * time.Hour), missed: 3, next: at(4 * 24 * time.Hour),
		},
		{
			name: "gap skip with an on-time tick: only the on-time tick", sched: minutely, last: at(0), catchUp: store.CatchUpSkip,
			now:  at(10*time.Minute + time.Second),
			fire: []time.Time{at(10 * time.Minute)}, missed: 9, next: at(11 * time.Minute),
		},
		{
			name: "gap all: every tick", sched: daily, last: at(0), catchUp: store.CatchUpAll,
			now:  at(3*24*time.Hour + 5*time.Hour),
			fire: []time.Time{at(24 * time.Hour), at(48 * time.Hour), at(72 * time.Hour)}, missed: 3,
			next: at(4 * 24 * time.Hour),
		},
		{
			name: "gap all, capped: the newest", sched: minutely, last: at(0), catchUp: store.CatchUpAll, maxCatch: 3,
			now:    at(10*time.Minute + 30*time.Second),
			fire:   []time.Time{at(7 * time.Minute), at(8 * time.Minute), at(9 * time.Minute), at(10 * time.Minute)},
			missed: 9, capped: 6, next: at(11 * time.Minute),
		},
		{
			name: "new entry: starts after its creation", sched: minutely, created: at(30 * time.Second),
			now:  at(50 * time.Second),
			next: at(time.Minute),
		},
		{
			name: "new entry: its first tick fires", sched: minutely, created: at(30 * time.Second),
			now:  at(60*time.Second + time.Millisecond),
			fire: []time.Time{at(time.Minute)}, next: at(2 * time.Minute),
		},
		{
			name: "new entry created long ago: its ticks since then were missed", sched: minutely, created: at(0),
			now:  at(10*time.Minute + 30*time.Second),
			fire: []time.Time{at(9 * time.Minute), at(10 * time.Minute)}, missed: 9, next: at(11 * time.Minute),
		},
		{
			name: "a last tick in the future (another clock): nothing", sched: minutely, last: at(5 * time.Minute),
			now:  at(time.Minute),
			next: at(6 * time.Minute),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			created := tc.created
			if created.IsZero() {
				created = at(-time.Hour)
			}
			p := PlanTicks(&PlanParams{
				Sched: tc.sched, LastTick: tc.last, CreatedAt: created, CatchUp: tc.catchUp,
				Now: tc.now, Grace: time.Minute, MaxCatchUp: cmp.Or(tc.maxCatch, 100),
			})
			if !slices.EqualFunc(p.Fire, tc.fire, time.Time.Equal) {
				t.Errorf("Fire = %v, want %v", p.Fire, tc.fire)
			}
			if !p.Skip.Equal(tc.skip) {
				t.Errorf("Skip = %v, want %v", p.Skip, tc.skip)
			}
			if p.Missed != tc.missed || p.Capped != tc.capped {
				t.Errorf("Missed = %d, Capped = %d, want %d, %d", p.Missed, p.Capped, tc.missed, tc.capped)
			}
			if !p.Next.Equal(tc.next) {
				t.Errorf("Next = %v, want %v", p.Next, tc.next)
			}
		})
	}
}

// TestPlanTicksLongGapIsCheap: a year without a scheduler for a job every
// second does not enumerate 31 million ticks to find the newest ones.
func TestPlanTicksLongGapIsCheap(t *testing.T) {
	t.Parallel()
	calls := 0
	sc := countingSched{mustSched(t, "@every 1s"), &calls}
	now := at(365*24*time.Hour + 500*time.Millisecond)
	p := PlanTicks(&PlanParams{Sched: sc, LastTick: at(0), CatchUp: store.CatchUpAll, Now: now, Grace: time.Minute, MaxCatchUp: 100})
	if len(p.Fire) != 100+60 || !p.MissedMore || p.Missed != maxCount {
		t.Fatalf("fire %d ticks, missed %d (more %v)", len(p.Fire), p.Missed, p.MissedMore)
	}
	if want := now.Add(-time.Minute).Truncate(time.Second); !p.LastMissed.Equal(want) || !p.Fire[99].Equal(want) {
		t.Fatalf("newest missed %v, fire[99] %v, want %v", p.LastMissed, p.Fire[99], want)
	}
	if calls > 3*maxCount {
		t.Fatalf("%d calls of Next", calls)
	}
}

type countingSched struct {
	s     Schedule
	calls *int
}

func (c countingSched) Next(t time.Time) time.Time { *c.calls++; return c.s.Next(t) }

// TestPlanTicksNeverRepeats: replaying the plans of a scheduler that wakes
// at random moments, each tick is fired or skipped at most once, in order.
func TestPlanTicksNeverRepeats(t *testing.T) {
	t.Parallel()
	for _, policy := range []store.CatchUp{store.CatchUpOnce, store.CatchUpSkip, store.CatchUpAll} {
		sc := mustSched(t, "*/7 * * * * *") // every 7 s within each minute
		last := time.Time{}
		now := at(0)
		seen := map[time.Time]bool{}
		for i := range 2000 {
			now = now.Add(time.Duration((i*7919)%300000) * time.Millisecond)
			p := PlanTicks(&PlanParams{Sched: sc, LastTick: last, CreatedAt: at(0), CatchUp: policy, Now: now, Grace: 20 * time.Second, MaxCatchUp: 5})
			ticks := p.Fire
			if !p.Skip.IsZero() {
				ticks = []time.Time{p.Skip}
			}
			for _, tick := range ticks {
				if seen[tick] || !tick.After(last) || tick.After(now) {
					t.Fatalf("%s: tick %v fired again or out of order (last %v, now %v)", policy, tick, last, now)
				}
				seen[tick] = true
				last = tick
			}
			if !p.Next.After(now) {
				t.Fatalf("%s: next %v not after now %v", policy, p.Next, now)
			}
		}
	}
}
