package autoscale

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// t0 is the start of every test's clock.
var t0 = time.Date(2025, 3, 7, 9, 0, 0, 0, time.UTC)

// sim drives a policy the way the scaler does: the count it holds is the
// target's, and a change is applied (and reported to the policy) at once.
type sim struct {
	t       *testing.T
	p       *Policy
	now     time.Time
	current int
	changes int
}

func newSim(t *testing.T, opts Options, current int) *sim {
	t.Helper()
	p, err := NewPolicy(opts)
	if err != nil {
		t.Fatalf("NewPolicy: %v", err)
	}
	return &sim{t: t, p: p, now: t0, current: current}
}

// step advances the clock by dt, decides from a fresh reading of backlog
// (and oldest age), applies the decision and returns it.
func (s *sim) step(dt time.Duration, backlog int64, oldest time.Duration) Decision {
	s.now = s.now.Add(dt)
	d := s.p.Decide(Input{Now: s.now, Current: s.current,
		Metric: Metric{Backlog: backlog, OldestAge: oldest, ReadAt: s.now}})
	if d.Change() {
		s.p.Applied(d)
		s.current = d.Desired
		s.changes++
	}
	return d
}

// TestPolicyMiddleManagementChart replays, row by row, the "step-by-step
// chart" of the Middle Management README (seeds/004): min 0, max 10, one
// job per worker, no stabilization window, no minimum interval. The
// backlog is the number of jobs still waiting after the row's action.
func TestPolicyMiddleManagementChart(t *testing.T) {
	t.Parallel()
	rows := []struct {
		action  string
		backlog int64
		total   int // "Total Workers Running"
		delta   int // "Start n workers" (+n) / "Stop n workers" (-n)
	}{
		{"Boot Up", 0, 0, 0},
		{"Rotate 3 images", 3, 3, +3},
		{"First image rotated", 2, 2, -1},
		{"Second image rotated", 1, 1, -1},
		// The chart says "Start 8 workers" here, but its own totals go from
		// 1 to 10: the totals are what we reproduce (and 1 + 9 = 10).
		{"Send 105 emails with send_later", 105, 10, +9},
		{"First 10 emails sent", 95, 10, 0},
		{"Next 10 emails sent", 85, 10, 0},
		{"Next 10 emails sent", 75, 10, 0},
		{"Next 10 emails sent", 65, 10, 0},
		{"Next 10 emails sent", 55, 10, 0},
		{"Next 10 emails sent", 45, 10, 0},
		{"Next 10 emails sent", 35, 10, 0},
		{"Next 10 emails sent", 25, 10, 0},
		{"Next 10 emails sent", 15, 10, 0},
		{"Next 10 emails sent", 5, 5, -5},
		{"Last 5 emails sent", 0, 0, -5},
	}
	s := newSim(t, Options{Min: 0, Max: 10, JobsPerWorker: 1,
		StabilizationWindow: Disabled, MinInterval: Disabled}, 0)
	for i, r := range rows {
		before := s.current
		d := s.step(time.Second, r.backlog, 0)
		if s.current != r.total || s.current-before != r.delta {
			t.Fatalf("row %d %q (backlog %d): total %d (delta %+d), want %d (delta %+d); reason: %s",
				i, r.action, r.backlog, s.current, s.current-before, r.total, r.delta, d.Reason)
		}
		wantAction := ActionHold
		if r.delta > 0 {
			wantAction = ActionUp
		} else if r.delta < 0 {
			wantAction = ActionDown
		}
		if d.Action != wantAction {
			t.Errorf("row %d %q: action %s, want %s", i, r.action, d.Action, wantAction)
		}
	}
}

// TestPolicyButtondownCase checks seeds/003 (min 3, max 50, 100 events per
// worker): a backlog of 10,000 gives 50 and one of 120 gives 3. Its code
// truncates (int(120/100) = 1) where we take the ceiling (2); both are
// raised to the minimum 3. Where they differ (450: 4 there, 5 here) we
// keep the ceiling, so 1 job over a multiple still gets a worker.
func TestPolicyButtondownCase(t *testing.T) {
	t.Parallel()
	buttondown := func(backlog int64) int { // calculate_worker_count, transcribed
		est := float64(backlog) / 100
		switch {
		case est < 3:
			return 3
		case est > 50:
			return 50
		}
		return int(est)
	}
	s := newSim(t, Options{Min: 3, Max: 50, JobsPerWorker: 100,
		StabilizationWindow: Disabled, MinInterval: Disabled}, 3)
	for _, r := range []struct {
		backlog int64
		want    int
		same    bool // the truncating formula agrees
	}{
		{10_000, 50, true}, {120, 3, true}, // the seed's two cases
		{0, 3, true}, {5_000, 50, true}, {4_999, 50, false}, {4_900, 49, true}, {450, 5, false}, {301, 4, false},
	} {
		d := s.step(10*time.Minute, r.backlog, 0)
		if s.current != r.want {
			t.Fatalf("backlog %d: %d workers, want %d (%s)", r.backlog, s.current, r.want, d.Reason)
		}
		if got := buttondown(r.backlog); (got == r.want) != r.same {
			t.Errorf("backlog %d: Buttondown's formula gives %d, we give %d (same: %v)", r.backlog, got, r.want, r.same)
		}
	}
}

// TestPolicyBurstThenQuietWaitsForWindow: a burst, then an empty queue.
// The workers stay for the whole stabilization window after the last
// reading that needed them, then go.
func TestPolicyBurstThenQuietWaitsForWindow(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{Min: 1, Max: 10, JobsPerWorker: 100}, 1) // default window 5 min
	if d := s.step(0, 1_000, time.Second); d.Action != ActionUp || s.current != 10 {
		t.Fatalf("burst: %s to %d, want up to 10 (%s)", d.Action, s.current, d.Reason)
	}
	lastNeed := s.now
	for s.now.Sub(lastNeed) < 5*time.Minute-30*time.Second {
		d := s.step(30*time.Second, 0, 0)
		if s.current != 10 {
			t.Fatalf("%s after the burst: scaled to %d before the window passed (%s)", s.now.Sub(lastNeed), s.current, d.Reason)
		}
		if d.Recommended != 1 || !strings.Contains(d.Reason, "stabilization window") {
			t.Fatalf("hold decision: recommended %d, reason %q", d.Recommended, d.Reason)
		}
	}
	d := s.step(30*time.Second, 0, 0)
	if d.Action != ActionDown || s.current != 1 {
		t.Fatalf("%s after the burst: %s to %d, want down to 1 (%s)", s.now.Sub(lastNeed), d.Action, s.current, d.Reason)
	}
	if s.changes != 2 {
		t.Fatalf("%d changes, want 2 (up, down)", s.changes)
	}
}

// TestPolicyNoFlappingBetweenBursts: bursts every 4 minutes with quiet in
// between never scale down under a 5 minute window.
func TestPolicyNoFlappingBetweenBursts(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{Min: 1, Max: 8, JobsPerWorker: 50}, 1)
	for minute := range 40 {
		backlog := int64(0)
		if minute%4 == 0 {
			backlog = 400
		}
		d := s.step(time.Minute, backlog, 0)
		if minute > 0 && s.current != 8 {
			t.Fatalf("minute %d: %d workers, want 8 all along (%s)", minute, s.current, d.Reason)
		}
	}
	if s.changes != 1 {
		t.Fatalf("%d changes, want 1", s.changes)
	}
	// Without a window the same load flaps on every reading.
	flappy := newSim(t, Options{Min: 1, Max: 8, JobsPerWorker: 50, StabilizationWindow: Disabled}, 1)
	for minute := range 40 {
		backlog := int64(0)
		if minute%4 == 0 {
			backlog = 400
		}
		flappy.step(time.Minute, backlog, 0)
	}
	if flappy.changes != 20 {
		t.Fatalf("without a window: %d changes, want 20", flappy.changes)
	}
}

// TestPolicyScalesDownInSteps: the count falls to the highest need seen
// within the window, so a slowly draining queue steps down.
func TestPolicyScalesDownInSteps(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{Min: 0, Max: 10, JobsPerWorker: 10, StabilizationWindow: 2 * time.Minute}, 0)
	s.step(0, 100, 0) // 10
	s.step(time.Minute, 60, 0)
	s.step(time.Minute, 20, 0) // t=2m: the 10 of t=0 just left the window
	if s.current != 6 {
		t.Fatalf("at 2m: %d workers, want 6 (the most needed within the last 2 minutes)", s.current)
	}
	s.step(time.Minute, 20, 0) // t=3m: 6 of t=1m leaves
	if s.current != 2 {
		t.Fatalf("at 3m: %d workers, want 2", s.current)
	}
	s.step(time.Minute, 0, 0)
	if s.current != 2 {
		t.Fatalf("at 4m: %d workers, want still 2", s.current)
	}
	s.step(2*time.Minute, 0, 0)
	if s.current != 0 {
		t.Fatalf("at 6m: %d workers, want 0", s.current)
	}
}

// TestPolicyFirstDecisionDoesNotScaleDown: a scaler that starts (a
// restart during a burst) has not watched the backlog yet, so it keeps the
// current count for a window before scaling down.
func TestPolicyFirstDecisionDoesNotScaleDown(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{Min: 1, Max: 10, StabilizationWindow: time.Minute}, 7)
	if d := s.step(0, 0, 0); d.Action != ActionHold {
		t.Fatalf("first decision: %s (%s), want hold", d.Action, d.Reason)
	}
	s.step(59*time.Second, 0, 0)
	if s.current != 7 {
		t.Fatalf("59s: %d workers, want 7", s.current)
	}
	s.step(time.Second, 0, 0)
	if s.current != 1 {
		t.Fatalf("60s: %d workers, want 1", s.current)
	}
	// A count above Max is brought down (after the window) to Max only.
	over := newSim(t, Options{Min: 1, Max: 10, JobsPerWorker: 1, StabilizationWindow: time.Minute}, 20)
	over.step(0, 100, 0)
	over.step(time.Minute, 100, 0)
	if over.current != 10 {
		t.Fatalf("above max: %d workers, want 10", over.current)
	}
}

// TestPolicyMinInterval: no two changes within the minimum interval,
// counted from the last change the target made.
func TestPolicyMinInterval(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{Min: 0, Max: 20, JobsPerWorker: 1, StabilizationWindow: Disabled}, 0) // 10 s
	s.step(0, 5, 0)
	if s.current != 5 {
		t.Fatalf("first change: %d, want 5", s.current)
	}
	d := s.step(4*time.Second, 12, 0)
	if d.Action != ActionHold || s.current != 5 || !strings.Contains(d.Reason, "minimum interval") {
		t.Fatalf("4s later: %s to %d (%s), want hold for the minimum interval", d.Action, s.current, d.Reason)
	}
	if d.Recommended != 12 {
		t.Fatalf("held decision recommends %d, want 12", d.Recommended)
	}
	d = s.step(5*time.Second, 12, 0) // 9 s
	if d.Action != ActionHold {
		t.Fatalf("9s: %s, want hold", d.Action)
	}
	s.step(time.Second, 12, 0) // 10 s
	if s.current != 12 {
		t.Fatalf("10s: %d, want 12", s.current)
	}
	// Scale-downs wait too.
	if d := s.step(time.Second, 0, 0); d.Action != ActionHold {
		t.Fatalf("down 1s after a change: %s, want hold", d.Action)
	}
	s.step(9*time.Second, 0, 0)
	if s.current != 0 {
		t.Fatalf("down 10s after: %d, want 0", s.current)
	}

	// A change the target refused (Applied not called) does not start the
	// interval: the next decision retries at once.
	p, _ := NewPolicy(Options{Max: 10, JobsPerWorker: 1})
	in := Input{Now: t0, Current: 0, Metric: Metric{Backlog: 4, ReadAt: t0}}
	if d := p.Decide(in); d.Action != ActionUp {
		t.Fatalf("refused change: %s", d.Action)
	}
	in.Now, in.Metric.ReadAt = t0.Add(time.Second), t0.Add(time.Second)
	if d := p.Decide(in); d.Action != ActionUp || d.Desired != 4 {
		t.Fatalf("retry after a refused change: %s to %d (%s), want up to 4", d.Action, d.Desired, d.Reason)
	}
}

// TestPolicyBadMetricChangesNothing: a failed read, a stale reading or a
// reading without a time hold the count, whatever the backlog says, and do
// not count as the backlog allowing a scale-down.
func TestPolicyBadMetricChangesNothing(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{Min: 1, Max: 10, JobsPerWorker: 1, StabilizationWindow: time.Minute}, 1)
	s.step(0, 6, 0)
	if s.current != 6 {
		t.Fatalf("setup: %d workers", s.current)
	}
	cases := []struct {
		name string
		in   func(now time.Time) Input
		want string
	}{
		{"redis timed out", func(now time.Time) Input {
			return Input{Now: now, Current: 6, Err: errors.New("i/o timeout")}
		}, "i/o timeout"},
		{"stale", func(now time.Time) Input {
			return Input{Now: now, Current: 6, Metric: Metric{Backlog: 0, ReadAt: now.Add(-3 * time.Minute)}}
		}, "stale metric"},
		{"no read time", func(now time.Time) Input {
			return Input{Now: now, Current: 6, Metric: Metric{Backlog: 50}}
		}, "no read time"},
		{"negative", func(now time.Time) Input {
			return Input{Now: now, Current: 6, Metric: Metric{Backlog: -1, ReadAt: now}}
		}, "negative backlog"},
	}
	for range 3 {
		for _, c := range cases {
			s.now = s.now.Add(30 * time.Second)
			d := s.p.Decide(c.in(s.now))
			if d.Action != ActionHold || d.Desired != 6 || d.Recommended != -1 {
				t.Fatalf("%s: %s to %d (recommended %d), want hold at 6", c.name, d.Action, d.Desired, d.Recommended)
			}
			if !strings.Contains(d.MetricError, c.want) || !strings.Contains(d.Reason, "changing nothing") {
				t.Fatalf("%s: MetricError %q, reason %q", c.name, d.MetricError, d.Reason)
			}
		}
	}
	// Bad readings count as needing what runs: after 6 minutes of them,
	// the good empty readings still wait a whole window from the last bad
	// one (the window is 1 minute).
	d := s.step(30*time.Second, 0, 0)
	if d.Action != ActionHold || !strings.Contains(d.Reason, "stabilization window") {
		t.Fatalf("first good reading after bad ones: %s (%s), want hold", d.Action, d.Reason)
	}
	s.step(29*time.Second, 0, 0)
	if s.current != 6 {
		t.Fatalf("59s after the last bad reading: %d workers, want 6", s.current)
	}
	s.step(time.Second, 0, 0)
	if s.current != 1 {
		t.Fatalf("a window after the last bad reading: %d workers, want 1", s.current)
	}
	// And a fresh reading within MaxMetricAge is fine.
	p, _ := NewPolicy(Options{Max: 5, JobsPerWorker: 1, MaxMetricAge: time.Minute})
	d = p.Decide(Input{Now: t0, Current: 0, Metric: Metric{Backlog: 3, ReadAt: t0.Add(-time.Minute)}})
	if d.Action != ActionUp || d.Desired != 3 {
		t.Fatalf("reading exactly MaxMetricAge old: %s to %d (%s)", d.Action, d.Desired, d.Reason)
	}
}

// TestPolicyTargetLatency: while the oldest job waits longer than the
// target, one more worker per decision, beyond what the backlog asks.
func TestPolicyTargetLatency(t *testing.T) {
	t.Parallel()
	s := newSim(t, Options{Min: 1, Max: 4, JobsPerWorker: 100, TargetLatency: 30 * time.Second,
		StabilizationWindow: 2 * time.Minute, MinInterval: Disabled}, 1)
	want := []int{2, 3, 4, 4}
	for i, w := range want {
		d := s.step(20*time.Second, 50, 45*time.Second) // backlog alone: 1 worker
		if s.current != w {
			t.Fatalf("decision %d: %d workers, want %d (%s)", i, s.current, w, d.Reason)
		}
		if i < 3 && !strings.Contains(d.Reason, "over the target") {
			t.Fatalf("decision %d: reason %q does not mention the latency target", i, d.Reason)
		}
	}
	// Latency back under the target: the backlog alone asks for 1, after
	// the window.
	d := s.step(20*time.Second, 50, 10*time.Second)
	if d.Action != ActionHold || d.Recommended != 1 {
		t.Fatalf("latency met: %s, recommended %d (%s)", d.Action, d.Recommended, d.Reason)
	}
	s.step(2*time.Minute, 50, 10*time.Second)
	if s.current != 1 {
		t.Fatalf("after the window: %d workers, want 1", s.current)
	}
	// An empty queue has no latency, whatever the age says.
	if d := s.step(time.Second, 0, time.Hour); d.Recommended != 1 {
		t.Fatalf("empty queue with an age: recommended %d", d.Recommended)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		opts  Options
		field string
	}{
		{Options{Min: -1, Max: 1}, "Min"},
		{Options{Max: 0}, "Max"},
		{Options{Min: 5, Max: 4}, "Max (4) is below Min (5)"},
		{Options{Max: 1, JobsPerWorker: -3}, "JobsPerWorker"},
		{Options{Max: 1, TargetLatency: -time.Second}, "TargetLatency"},
		{Options{Max: 1, MaxMetricAge: -time.Second}, "MaxMetricAge"},
	} {
		_, err := NewPolicy(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: error %v, want one naming %s", c.opts, err, c.field)
		}
	}
	o := Options{Max: 3}.WithDefaults()
	if o.JobsPerWorker != DefaultJobsPerWorker || o.StabilizationWindow != DefaultStabilizationWindow ||
		o.MinInterval != DefaultMinInterval || o.MaxMetricAge != DefaultMaxMetricAge {
		t.Fatalf("defaults: %+v", o)
	}
	o = Options{Max: 3, StabilizationWindow: Disabled, MinInterval: -time.Hour}.WithDefaults()
	if o.StabilizationWindow != 0 || o.MinInterval != 0 {
		t.Fatalf("Disabled: %+v", o)
	}
}
