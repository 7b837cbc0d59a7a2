package autoscale

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Source reads a queue's backlog. Implementations live in
// autoscale/source (the boiler store, a Redis list, an SQL count).
type Source interface {
	// Backlog returns the current reading. Metric.ReadAt is when it was
	// taken.
	Backlog(ctx context.Context) (Metric, error)
}

// Target is what the scaler scales: a Heroku process type, processes of
// a formation, anything a command can change.
type Target interface {
	// Current returns how many workers run now.
	Current(ctx context.Context) (int, error)
	// Set asks for n workers. An error means the change was not made (it
	// is decided again at the next tick, so nothing is lost).
	Set(ctx context.Context, n int) error
}

// DefaultInterval is the time between two decisions of a [Scaler] when
// ScalerConfig.Interval is 0.
const DefaultInterval = 30 * time.Second

// ScalerConfig configures a [Scaler]. Zero values take the default
// written beside them.
type ScalerConfig struct {
	// Policy configures the decisions (see [Options]; Max is required).
	Policy Options
	// Source reads the backlog. Required.
	Source Source
	// Target reads and sets the count of workers. Required.
	Target Target
	// Interval is the time between two decisions. Default 30 s.
	Interval time.Duration
	// Timeout bounds one decision's reads and change together. Default:
	// Interval.
	Timeout time.Duration
	// DryRun logs the changes without making them. Default false.
	DryRun bool
	// Name names what is scaled (a process type) in logs. Default "worker".
	Name string
	// Logger receives one line per decision. Default: slog.Default().
	Logger *slog.Logger
	// History, when set, keeps every decision (for the dashboard).
	History *Ring
	// Metrics, when set, counts every decision.
	Metrics *Metrics
	// QuietRepeats logs a decision that repeats the previous one (the
	// same action and counts, an error again or none again) at Debug
	// level instead of Info or Warn, so a long steady state or
	// stabilization window writes one line rather than one per interval.
	// History and Metrics still get every decision. Default false: every
	// decision is logged at Info (Warn with an error).
	QuietRepeats bool
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// withDefaults returns c with zero fields set to their defaults.
func (c ScalerConfig) withDefaults() ScalerConfig {
	c.Interval = cmp.Or(c.Interval, DefaultInterval)
	c.Timeout = cmp.Or(c.Timeout, c.Interval)
	c.Name = cmp.Or(c.Name, "worker")
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate names the first bad field of c (after withDefaults).
func (c ScalerConfig) validate() error {
	switch {
	case c.Source == nil:
		return errors.New("autoscale scaler: Source is nil")
	case c.Target == nil:
		return errors.New("autoscale scaler: Target is nil")
	case c.Interval < 0:
		return fmt.Errorf("autoscale scaler: Interval is %s, want more than 0", c.Interval)
	case c.Timeout < 0:
		return fmt.Errorf("autoscale scaler: Timeout is %s, want more than 0", c.Timeout)
	}
	return nil
}

// Scaler is the autoscaling loop: every interval it reads the source and
// the target, asks its [Policy], applies the decision and reports it (a
// log line with the inputs and the reason, the History ring, the
// Metrics). It is a service: Start runs the loop, Stop ends it.
type Scaler struct {
	cfg    ScalerConfig
	policy *Policy

	tickMu sync.Mutex // one decision at a time; guards policy and last
	last   *Decision  // the previous decision, for QuietRepeats

	loopMu  sync.Mutex // guards the fields below
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// NewScaler checks cfg and returns a scaler that has not started.
func NewScaler(cfg ScalerConfig) (*Scaler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p, err := NewPolicy(cfg.Policy)
	if err != nil {
		return nil, err
	}
	return &Scaler{cfg: cfg, policy: p}, nil
}

// Tick makes one decision now: read, decide, apply, report. The loop calls
// it every interval; it is exported for one-shot runs and tests.
func (s *Scaler) Tick(ctx context.Context) Decision {
	s.tickMu.Lock()
	defer s.tickMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	metric, merr := s.cfg.Source.Backlog(ctx)
	current, cerr := s.cfg.Target.Current(ctx)
	in := Input{Now: s.cfg.Now(), Current: current, Metric: metric}
	if merr != nil {
		in.Err = fmt.Errorf("reading the backlog: %w", merr)
	}
	if cerr != nil {
		in.Current = -1
		in.Err = errors.Join(in.Err, fmt.Errorf("reading the current count: %w", cerr))
	}

	d := s.policy.Decide(in)
	if d.Change() {
		switch err := s.apply(ctx, d); {
		case s.cfg.DryRun:
			d.DryRun = true
		case err != nil:
			d.ApplyError = err.Error()
		default:
			s.policy.Applied(d)
		}
	}
	s.report(ctx, d)
	return d
}

// apply asks the target for d.Desired workers, unless this is a dry run.
func (s *Scaler) apply(ctx context.Context, d Decision) error {
	if s.cfg.DryRun {
		return nil
	}
	if err := s.cfg.Target.Set(ctx, d.Desired); err != nil {
		return fmt.Errorf("setting %s to %d: %w", s.cfg.Name, d.Desired, err)
	}
	return nil
}

// report logs d with its inputs and keeps and counts it.
func (s *Scaler) report(ctx context.Context, d Decision) {
	level, msg := slog.LevelInfo, "autoscale decision"
	if d.MetricError != "" || d.ApplyError != "" {
		level = slog.LevelWarn
	}
	if s.cfg.QuietRepeats && s.last != nil && sameDecision(*s.last, d) {
		level = slog.LevelDebug
	}
	s.last = &d
	attrs := []slog.Attr{
		slog.String("process", s.cfg.Name),
		slog.String("action", string(d.Action)),
		slog.Int("current", d.Current),
		slog.Int("desired", d.Desired),
		slog.Int("recommended", d.Recommended),
		slog.Int64("backlog", d.Metric.Backlog),
		slog.Duration("oldest_age", d.Metric.OldestAge),
		slog.Time("metric_read_at", d.Metric.ReadAt),
		slog.String("reason", d.Reason),
	}
	if d.MetricError != "" {
		attrs = append(attrs, slog.String("metric_error", d.MetricError))
	}
	if d.ApplyError != "" {
		attrs = append(attrs, slog.String("apply_error", d.ApplyError))
	}
	if d.DryRun {
		attrs = append(attrs, slog.Bool("dry_run", true))
	}
	s.cfg.Logger.LogAttrs(ctx, level, msg, attrs...)
	if s.cfg.History != nil {
		s.cfg.History.Add(d)
	}
	s.cfg.Metrics.Observe(d)
}

// sameDecision reports whether b repeats a: the same action and counts,
// and an error of the same kind again or none again.
func sameDecision(a, b Decision) bool {
	return a.Action == b.Action && a.Current == b.Current && a.Desired == b.Desired &&
		a.Recommended == b.Recommended && a.DryRun == b.DryRun &&
		(a.MetricError == "") == (b.MetricError == "") && (a.ApplyError == "") == (b.ApplyError == "")
}

// Start runs the loop in a goroutine: a decision at once, then one every
// interval, until ctx is done or Stop is called. A scaler starts once.
func (s *Scaler) Start(ctx context.Context) error {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	if s.started {
		return errors.New("autoscale scaler: already started")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.run(ctx)
	return nil
}

// run is the loop.
func (s *Scaler) run(ctx context.Context) {
	defer close(s.done)
	ticker := time.NewTicker(s.cfg.Interval)
	defer ticker.Stop()
	for {
		s.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// Stop ends the loop and waits for a decision in progress to finish (its
// reads and change are cancelled). It is safe to call more than once, and
// before Start.
func (s *Scaler) Stop() {
	s.loopMu.Lock()
	cancel, done := s.cancel, s.done
	s.loopMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}
