package autoscale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// queue is a Source whose backlog the test sets.
type queue struct {
	mu      sync.Mutex
	clock   *clock
	backlog int64
	err     error
	reads   int
}

func (q *queue) Backlog(context.Context) (Metric, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reads++
	if q.err != nil {
		return Metric{}, q.err
	}
	return Metric{Backlog: q.backlog, OldestAge: time.Second, ReadAt: q.clock.Now()}, nil
}

func (q *queue) set(backlog int64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.backlog, q.err = backlog, err
}

// formation is a Target that keeps a count in memory and can refuse.
type formation struct {
	mu     sync.Mutex
	count  int
	setErr error
	sets   []int
}

func (f *formation) Current(context.Context) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count, nil
}

func (f *formation) Set(_ context.Context, n int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, n)
	if f.setErr != nil {
		return f.setErr
	}
	f.count = n
	return nil
}

type scalerBundle struct {
	clock *clock
	queue *queue
	form  *formation
	logs  *bytes.Buffer
	ring  *Ring
	reg   *prometheus.Registry
	sc    *Scaler
}

func setupScaler(t *testing.T, mod func(*ScalerConfig)) *scalerBundle {
	t.Helper()
	b := &scalerBundle{clock: &clock{now: t0}, form: &formation{count: 1}, logs: &bytes.Buffer{},
		ring: NewRing(3), reg: prometheus.NewRegistry()}
	b.queue = &queue{clock: b.clock}
	m, err := NewMetrics(b.reg, "worker")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ScalerConfig{
		Policy:  Options{Min: 1, Max: 5, JobsPerWorker: 10, StabilizationWindow: time.Minute},
		Source:  b.queue,
		Target:  b.form,
		Logger:  slog.New(slog.NewJSONHandler(&lockedWriter{w: b.logs}, nil)),
		History: b.ring,
		Metrics: m,
		Now:     b.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	b.sc, err = NewScaler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lockedWriter serializes writes to a buffer shared with the test.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lastLog decodes the scaler's last log line.
func (b *scalerBundle) lastLog(t *testing.T) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(b.logs.String()), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("log line %q: %v", lines[len(lines)-1], err)
	}
	return m
}

func TestScalerTickAppliesLogsKeepsAndCounts(t *testing.T) {
	t.Parallel()
	b := setupScaler(t, nil)
	b.queue.set(42, nil)
	d := b.sc.Tick(t.Context())
	if d.Action != ActionUp || d.Desired != 5 || b.form.count != 5 {
		t.Fatalf("decision %+v, formation %d; want up to 5", d, b.form.count)
	}
	log := b.lastLog(t)
	for k, want := range map[string]any{"msg": "autoscale decision", "level": "INFO", "process": "worker",
		"action": "up", "current": 1.0, "desired": 5.0, "recommended": 5.0, "backlog": 42.0} {
		if log[k] != want {
			t.Errorf("log %s = %v, want %v (line %v)", k, log[k], want, log)
		}
	}
	if !strings.Contains(log["reason"].(string), "backlog 42 at 10 per worker needs 5") {
		t.Errorf("log reason %q", log["reason"])
	}
	if got := b.ring.Recent(); len(got) != 1 || got[0].Desired != 5 {
		t.Fatalf("ring %+v", got)
	}
	if got := testutil.ToFloat64(b.sc.cfg.Metrics.decisions.WithLabelValues("up")); got != 1 {
		t.Fatalf("decisions_total{action=up} = %v", got)
	}
	if err := testutil.GatherAndCompare(b.reg, strings.NewReader(`
# HELP boiler_autoscale_workers_desired Workers the latest decision asked for.
# TYPE boiler_autoscale_workers_desired gauge
boiler_autoscale_workers_desired{process="worker"} 5
# HELP boiler_autoscale_backlog Jobs waiting, as of the latest decision.
# TYPE boiler_autoscale_backlog gauge
boiler_autoscale_backlog{process="worker"} 42
`), "boiler_autoscale_workers_desired", "boiler_autoscale_backlog"); err != nil {
		t.Fatal(err)
	}
}

func TestScalerFailedReadChangesNothing(t *testing.T) {
	t.Parallel()
	b := setupScaler(t, nil)
	b.form.count = 4
	b.queue.set(0, errors.New("redis: i/o timeout"))
	d := b.sc.Tick(t.Context())
	if d.Action != ActionHold || len(b.form.sets) != 0 {
		t.Fatalf("decision %+v, sets %v: want hold and no change", d, b.form.sets)
	}
	log := b.lastLog(t)
	if log["level"] != "WARN" || !strings.Contains(log["metric_error"].(string), "redis: i/o timeout") {
		t.Fatalf("log %v", log)
	}
	if got := testutil.ToFloat64(b.sc.cfg.Metrics.metricError); got != 1 {
		t.Fatalf("metric_errors_total = %v", got)
	}
}

// TestScalerRefusedChangeIsRetried: a target that fails a change (a 429)
// does not lose the decision: the next tick decides it again, without
// waiting for the minimum interval.
func TestScalerRefusedChangeIsRetried(t *testing.T) {
	t.Parallel()
	b := setupScaler(t, nil)
	b.queue.set(30, nil)
	b.form.setErr = errors.New("429 Too Many Requests")
	d := b.sc.Tick(t.Context())
	if d.ApplyError == "" || !strings.Contains(d.ApplyError, "setting worker to 3") || b.form.count != 1 {
		t.Fatalf("refused change: %+v, count %d", d, b.form.count)
	}
	if got := testutil.ToFloat64(b.sc.cfg.Metrics.applyError); got != 1 {
		t.Fatalf("apply_errors_total = %v", got)
	}
	b.form.setErr = nil
	b.clock.Add(time.Second) // within the 10 s minimum interval
	d = b.sc.Tick(t.Context())
	if d.Action != ActionUp || b.form.count != 3 {
		t.Fatalf("retry: %+v, count %d", d, b.form.count)
	}
	if want := []int{3, 3}; len(b.form.sets) != 2 || b.form.sets[1] != 3 {
		t.Fatalf("sets %v, want %v", b.form.sets, want)
	}
}

func TestScalerDryRun(t *testing.T) {
	t.Parallel()
	b := setupScaler(t, func(c *ScalerConfig) { c.DryRun = true })
	b.queue.set(30, nil)
	d := b.sc.Tick(t.Context())
	if !d.DryRun || d.Action != ActionUp || len(b.form.sets) != 0 {
		t.Fatalf("dry run: %+v, sets %v", d, b.form.sets)
	}
	if b.lastLog(t)["dry_run"] != true {
		t.Fatalf("log %v", b.lastLog(t))
	}
}

func TestScalerStartStop(t *testing.T) {
	t.Parallel()
	b := setupScaler(t, func(c *ScalerConfig) { c.Interval = 2 * time.Millisecond })
	b.queue.set(50, nil)
	if err := b.sc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := b.sc.Start(t.Context()); err == nil {
		t.Fatal("second Start: no error")
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.ring.Len() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the loop made fewer than 3 decisions in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	b.sc.Stop()
	b.sc.Stop() // twice is fine
	b.form.mu.Lock()
	defer b.form.mu.Unlock()
	if b.form.count != 5 {
		t.Fatalf("count %d after the loop ran, want 5", b.form.count)
	}
}

func TestScalerStopBeforeStart(t *testing.T) {
	t.Parallel()
	setupScaler(t, nil).sc.Stop()
}

func TestNewScalerValidates(t *testing.T) {
	t.Parallel()
	q, f := &queue{clock: &clock{}}, &formation{}
	for _, c := range []struct {
		cfg  ScalerConfig
		want string
	}{
		{ScalerConfig{Target: f, Policy: Options{Max: 1}}, "Source"},
		{ScalerConfig{Source: q, Policy: Options{Max: 1}}, "Target"},
		{ScalerConfig{Source: q, Target: f, Policy: Options{Max: 1}, Interval: -time.Second}, "Interval"},
		{ScalerConfig{Source: q, Target: f}, "Max"},
	} {
		if _, err := NewScaler(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one naming %s", err, c.want)
		}
	}
}

func TestRing(t *testing.T) {
	t.Parallel()
	r := NewRing(3)
	if r.Len() != 0 || len(r.Recent()) != 0 {
		t.Fatal("new ring not empty")
	}
	for i := range 5 {
		r.Add(Decision{Desired: i})
		want := min(i+1, 3)
		got := r.Recent()
		if r.Len() != want || len(got) != want {
			t.Fatalf("after %d adds: len %d/%d, want %d", i+1, r.Len(), len(got), want)
		}
		for j, d := range got {
			if d.Desired != i-j {
				t.Fatalf("after %d adds: Recent()[%d] = %d, want %d (newest first)", i+1, j, d.Desired, i-j)
			}
		}
	}
	if NewRing(0).Len() != 0 || len(NewRing(0).buf) != DefaultRingSize || len(NewRing(-4).buf) != 1 {
		t.Fatal("ring sizes")
	}
}

func TestNewMetricsNeedsARegistry(t *testing.T) {
	t.Parallel()
	if _, err := NewMetrics(nil, ""); err == nil {
		t.Fatal("nil registerer: no error")
	}
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, "worker"); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg, "worker"); err == nil {
		t.Fatal("registering twice: no error")
	}
	if _, err := NewMetrics(reg, "urgent"); err != nil {
		t.Fatalf("a second process label: %v", err)
	}
	var m *Metrics
	m.Observe(Decision{}) // nil is a no-op
}

// TestScalerQuietRepeats: with QuietRepeats a decision that repeats the
// previous one is logged at Debug, so a steady state writes one line at
// Info; a different decision is logged at Info again.
func TestScalerQuietRepeats(t *testing.T) {
	t.Parallel()
	logs := &bytes.Buffer{}
	b := setupScaler(t, func(c *ScalerConfig) {
		c.QuietRepeats = true
		c.Logger = slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	levels := func() []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			out = append(out, fmt.Sprintf("%s:%s", m["level"], m["action"]))
		}
		return out
	}
	b.queue.set(0, nil)
	b.sc.Tick(t.Context()) // keeping 1 (the minimum)
	b.clock.Add(time.Second)
	b.sc.Tick(t.Context()) // the same again
	b.queue.set(30, nil)
	b.clock.Add(time.Second)
	b.sc.Tick(t.Context()) // up to 3
	b.clock.Add(time.Second)
	b.sc.Tick(t.Context()) // keeping 3
	b.clock.Add(time.Second)
	b.sc.Tick(t.Context()) // keeping 3 again
	want := "[INFO:hold DEBUG:hold INFO:up INFO:hold DEBUG:hold]"
	if got := fmt.Sprint(levels()); got != want {
		t.Fatalf("levels %s, want %s", got, want)
	}
	if b.ring.Len() != 3 || len(b.form.sets) != 1 {
		t.Fatalf("ring %d, sets %v: every decision is kept, one change made", b.ring.Len(), b.form.sets)
	}
}
