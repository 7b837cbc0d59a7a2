package autoscale

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// Disabled turns off a duration option of [Options] whose zero value means
// a default (StabilizationWindow, MinInterval).
const Disabled time.Duration = -1

// Options configure a [Policy]. The zero value of each field means its
// default, written beside it; [Options.WithDefaults] fills them and
// [Options.Validate] checks the result.
type Options struct {
	// Min is the fewest workers, even with an empty backlog. Default 0.
	Min int
	// Max is the most workers. Required: at least 1 and at least Min.
	Max int
	// JobsPerWorker is how many waiting jobs justify one worker:
	// desired = ceil(backlog / JobsPerWorker). A good value is the number
	// of jobs one worker does in the time it takes another to boot.
	// Default 10.
	JobsPerWorker int
	// TargetLatency, when set, adds one worker per decision (up to Max)
	// while the oldest waiting job has waited longer than it. Default 0:
	// no latency target, the backlog alone decides.
	TargetLatency time.Duration
	// StabilizationWindow is how long the backlog must have allowed a
	// lower count before the policy scales down to it, so a burst followed
	// by a lull does not flap. Scaling up never waits. Default 5 min;
	// Disabled (any negative value): scale down at once.
	StabilizationWindow time.Duration
	// MinInterval is the least time between two changes (the platform
	// API's courtesy). Default 10 s; Disabled (any negative value): none.
	MinInterval time.Duration
	// MaxMetricAge is how old a metric may be: a metric read longer ago
	// than this is stale and changes nothing. Default 2 min.
	MaxMetricAge time.Duration
}

// The defaults of [Options].
const (
	DefaultJobsPerWorker       = 10
	DefaultStabilizationWindow = 5 * time.Minute
	DefaultMinInterval         = 10 * time.Second
	DefaultMaxMetricAge        = 2 * time.Minute
)

// WithDefaults returns a copy of o with every zero field set to its
// default and Disabled durations set to 0.
func (o Options) WithDefaults() Options {
	o.JobsPerWorker = cmp.Or(o.JobsPerWorker, DefaultJobsPerWorker)
	o.StabilizationWindow = orDisabled(o.StabilizationWindow, DefaultStabilizationWindow)
	o.MinInterval = orDisabled(o.MinInterval, DefaultMinInterval)
	o.MaxMetricAge = cmp.Or(o.MaxMetricAge, DefaultMaxMetricAge)
	return o
}

// orDisabled is def for 0, 0 for a negative d (Disabled), else d.
func orDisabled(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Validate reports the first field of o (after WithDefaults) that is out
// of range, by name.
func (o Options) Validate() error {
	switch {
	case o.Min < 0:
		return fmt.Errorf("autoscale options: Min is %d, want 0 or more", o.Min)
	case o.Max < 1:
		return fmt.Errorf("autoscale options: Max is %d, want 1 or more", o.Max)
	case o.Max < o.Min:
		return fmt.Errorf("autoscale options: Max (%d) is below Min (%d)", o.Max, o.Min)
	case o.JobsPerWorker < 1:
		return fmt.Errorf("autoscale options: JobsPerWorker is %d, want 1 or more", o.JobsPerWorker)
	case o.TargetLatency < 0:
		return fmt.Errorf("autoscale options: TargetLatency is %s, want 0 (off) or more", o.TargetLatency)
	case o.MaxMetricAge < 0:
		return fmt.Errorf("autoscale options: MaxMetricAge is %s, want more than 0", o.MaxMetricAge)
	}
	return nil
}

// Metric is one reading of a queue's backlog.
type Metric struct {
	// Backlog is how many jobs wait to be worked (available now).
	Backlog int64 `json:"backlog"`
	// OldestAge is how long the oldest waiting job has waited; 0 when the
	// backlog is empty or the source cannot tell.
	OldestAge time.Duration `json:"oldest_age"`
	// ReadAt is when the reading was taken.
	ReadAt time.Time `json:"read_at"`
}

// Input is what one decision is made from.
type Input struct {
	// Now is the decision's time (the policy has no clock of its own).
	Now time.Time
	// Current is how many workers run now; -1 when it could not be read
	// (Err says why).
	Current int
	// Metric is the latest reading of the backlog.
	Metric Metric
	// Err, when set, says the metric or the current count could not be
	// read: the decision holds, whatever Metric says.
	Err error
}

// Action is what a decision does.
type Action string

// The actions of a [Decision].
const (
	ActionHold Action = "hold" // keep the current count
	ActionUp   Action = "up"   // start workers
	ActionDown Action = "down" // stop workers
)

// Decision is the outcome of one [Policy.Decide], with the inputs it was
// made from and a reason a person can read.
type Decision struct {
	// At is the decision's time (Input.Now).
	At time.Time `json:"at"`
	// Current is the count of workers when deciding (Input.Current).
	Current int `json:"current"`
	// Metric is the reading decided from (Input.Metric).
	Metric Metric `json:"metric"`
	// Recommended is what the backlog (and the latency target) alone asks
	// for, clamped to [Min, Max]; -1 when the metric was unusable.
	Recommended int `json:"recommended"`
	// Desired is the count to set: Current when Action is hold.
	Desired int `json:"desired"`
	// Action is hold, up or down.
	Action Action `json:"action"`
	// Reason explains the decision in a sentence.
	Reason string `json:"reason"`
	// MetricError is the error that made the inputs unusable (a failed
	// read, or a stale metric); empty when they were fine.
	MetricError string `json:"metric_error,omitempty"`
	// ApplyError is set by whoever applied the decision (the [Scaler])
	// when the target refused or failed the change.
	ApplyError string `json:"apply_error,omitempty"`
	// DryRun is set by the [Scaler] when the change was only logged.
	DryRun bool `json:"dry_run,omitempty"`
}

// Change reports whether d changes the count.
func (d Decision) Change() bool { return d.Action != ActionHold }

// ErrStaleMetric is the MetricError of a decision made from a metric read
// longer ago than Options.MaxMetricAge.
var ErrStaleMetric = errors.New("stale metric")

// recommendation is one past recommended count, kept for the
// stabilization window.
type recommendation struct {
	at    time.Time
	count int
}

// Policy decides how many workers to run. It keeps the history it needs
// (the recommendations within the stabilization window and the time of the
// last applied change) and does no I/O; time comes from each [Input]. A
// Policy is not safe for concurrent use: one loop owns it.
type Policy struct {
	opts       Options
	recs       []recommendation // within the window, oldest first
	started    bool
	lastChange time.Time // of the last applied change; zero: none yet
}

// NewPolicy returns a policy with opts (defaults filled, then validated).
func NewPolicy(opts Options) (*Policy, error) {
	opts = opts.WithDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Policy{opts: opts}, nil
}

// Options returns the policy's options, defaults filled.
func (p *Policy) Options() Options { return p.opts }

// Decide returns the decision for in, and remembers the backlog's
// recommendation for the stabilization window. It does not remember the
// change itself: call [Policy.Applied] once the target has made it, so a
// change the target refused does not count for the minimum interval and
// is decided again next time.
func (p *Policy) Decide(in Input) Decision {
	d := Decision{
		At:          in.Now,
		Current:     in.Current,
		Metric:      in.Metric,
		Recommended: -1,
		Desired:     in.Current,
		Action:      ActionHold,
	}
	if err := p.checkInput(in); err != nil {
		d.MetricError = err.Error()
		d.Reason = fmt.Sprintf("%v: changing nothing", err)
		if in.Current >= 0 {
			// Not knowing counts as needing what runs: the backlog must
			// allow a scale-down for a whole window of good readings.
			p.remember(in, p.clamp(in.Current))
		}
		return d
	}
	rec, why := p.recommend(in)
	d.Recommended = rec
	p.remember(in, rec)

	switch {
	case rec > in.Current:
		d.Action, d.Desired = ActionUp, rec
		d.Reason = fmt.Sprintf("%s: scale up %d → %d", why, in.Current, rec)
	case rec < in.Current:
		keep, since := p.stabilized()
		if keep >= in.Current {
			d.Reason = fmt.Sprintf("%s, but %d were needed %s ago, within the stabilization window (%s): keeping %d",
				why, keep, in.Now.Sub(since).Round(time.Second), p.opts.StabilizationWindow, in.Current)
			if since.Equal(in.Now) { // a bad reading just now, or the first decision
				d.Reason = fmt.Sprintf("%s, but the stabilization window (%s) has not passed: keeping %d",
					why, p.opts.StabilizationWindow, in.Current)
			}
			return d
		}
		d.Action, d.Desired = ActionDown, keep
		if p.opts.StabilizationWindow > 0 {
			why += fmt.Sprintf(", and no more than %d for the stabilization window (%s)", keep, p.opts.StabilizationWindow)
		}
		d.Reason = fmt.Sprintf("%s: scale down %d → %d", why, in.Current, keep)
	default:
		d.Reason = fmt.Sprintf("%s: keeping %d", why, in.Current)
		return d
	}

	if wait := p.opts.MinInterval; wait > 0 && !p.lastChange.IsZero() {
		if since := in.Now.Sub(p.lastChange); since < wait {
			d.Reason = fmt.Sprintf("%s, not yet: the last change was %s ago (minimum interval %s)",
				d.Reason, since.Round(time.Millisecond), wait)
			d.Action, d.Desired = ActionHold, in.Current
		}
	}
	return d
}

// Applied records that the target made d's change: the minimum interval
// runs from d.At. A hold is ignored.
func (p *Policy) Applied(d Decision) {
	if d.Change() {
		p.lastChange = d.At
	}
}

// checkInput returns why in cannot be decided from, or nil.
func (p *Policy) checkInput(in Input) error {
	switch {
	case in.Err != nil:
		return fmt.Errorf("reading the inputs failed: %w", in.Err)
	case in.Metric.ReadAt.IsZero():
		return fmt.Errorf("%w: the metric has no read time", ErrStaleMetric)
	case in.Now.Sub(in.Metric.ReadAt) > p.opts.MaxMetricAge:
		return fmt.Errorf("%w: read %s ago (at most %s)", ErrStaleMetric,
			in.Now.Sub(in.Metric.ReadAt).Round(time.Second), p.opts.MaxMetricAge)
	case in.Metric.Backlog < 0:
		return fmt.Errorf("%w: negative backlog %d", ErrStaleMetric, in.Metric.Backlog)
	}
	return nil
}

// recommend returns the count the metric asks for, clamped to [Min, Max],
// and a phrase saying why.
func (p *Policy) recommend(in Input) (int, string) {
	o := p.opts
	backlog := in.Metric.Backlog
	need := (backlog + int64(o.JobsPerWorker) - 1) / int64(o.JobsPerWorker) // ceil; backlog >= 0
	rec := int(min(max(need, int64(o.Min)), int64(o.Max)))
	why := fmt.Sprintf("backlog %d at %d per worker needs %d", backlog, o.JobsPerWorker, need)
	switch {
	case need > int64(o.Max):
		why += fmt.Sprintf(", capped at max %d", o.Max)
	case need < int64(o.Min):
		why += fmt.Sprintf(", raised to min %d", o.Min)
	}
	if o.TargetLatency > 0 && backlog > 0 && in.Metric.OldestAge > o.TargetLatency {
		if bump := min(in.Current+1, o.Max); bump > rec {
			rec = bump
			why += fmt.Sprintf("; the oldest job waited %s, over the target %s: one more than %d",
				in.Metric.OldestAge.Round(time.Second), o.TargetLatency, in.Current)
		}
	}
	return rec, why
}

// remember adds rec to the history and forgets what left the window. The
// first decision also remembers the current count (within [Min, Max]) as
// needed until now, so a scaler that just started does not scale down
// before it has watched the backlog for a whole window. A decision with a
// bad reading remembers the current count the same way.
func (p *Policy) remember(in Input, rec int) {
	if !p.started {
		p.started = true
		p.recs = append(p.recs, recommendation{at: in.Now, count: p.clamp(in.Current)})
	}
	p.recs = append(p.recs, recommendation{at: in.Now, count: rec})
	cutoff := in.Now.Add(-p.opts.StabilizationWindow)
	keep := 0
	for keep < len(p.recs)-1 && !p.recs[keep].at.After(cutoff) {
		keep++
	}
	p.recs = append(p.recs[:0], p.recs[keep:]...)
}

// clamp returns n within [Min, Max].
func (p *Policy) clamp(n int) int { return min(max(n, p.opts.Min), p.opts.Max) }

// stabilized returns the highest count recommended within the window (the
// most the backlog has asked for lately), and when it was last asked for.
func (p *Policy) stabilized() (int, time.Time) {
	best, at := -1, time.Time{}
	for _, r := range p.recs {
		if r.count >= best {
			best, at = r.count, r.at
		}
	}
	return best, at
}
