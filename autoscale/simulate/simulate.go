// Package simulate replays a load through an autoscaling policy against
// simulated workers, to compare policy settings before paying for them:
// what each costs (worker-minutes) and how long jobs wait.
//
// The model is simple and deterministic. Time advances in steps (1 s by
// default). Each ready worker works Rate jobs a second (fractions carry
// over while jobs wait); a worker the policy adds is paid from the moment
// it is asked for but works only after BootDelay; a worker it removes
// stops at once (the booting ones first). The policy decides every
// Interval from the backlog (jobs waiting, not started) and the age of
// the oldest of them, through the real [autoscale.Policy].
package simulate

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// The defaults of [Config].
const (
	DefaultRate      = 5.0 // jobs per second per worker: a 200 ms email
	DefaultBootDelay = 20 * time.Second
	DefaultInterval  = autoscale.DefaultInterval
	DefaultStep      = time.Second
	DefaultTail      = 30 * time.Minute
	DefaultSample    = 10 * time.Second
)

// Config is one simulated run. Zero values take the default beside them.
type Config struct {
	// Load is the jobs to replay. Required (at least one job).
	Load Load
	// Name names the policy setting in the result. Default "policy".
	Name string
	// Policy is the policy's settings (Max is required).
	Policy autoscale.Options
	// Rate is how many jobs one ready worker does a second. Default 5.
	Rate float64
	// BootDelay is the time from asking for a worker to its first job.
	// Default 20 s.
	BootDelay time.Duration
	// Interval is the time between two decisions. Default 30 s.
	Interval time.Duration
	// Step is the simulation's time step. Default 1 s.
	Step time.Duration
	// Tail is how long the run goes on after the last arrival, so the
	// backlog drains and the workers scale down. Default 30 min.
	Tail time.Duration
	// Sample is the time between two points of Result.Series. Default 10 s.
	Sample time.Duration
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.Name = cmp.Or(c.Name, "policy")
	c.Rate = cmp.Or(c.Rate, DefaultRate)
	c.BootDelay = cmp.Or(c.BootDelay, DefaultBootDelay)
	c.Interval = cmp.Or(c.Interval, DefaultInterval)
	c.Step = cmp.Or(c.Step, DefaultStep)
	c.Tail = cmp.Or(c.Tail, DefaultTail)
	c.Sample = cmp.Or(c.Sample, DefaultSample)
	return c
}

// validate names the first bad field of c (after withDefaults).
func (c Config) validate() error {
	switch {
	case len(c.Load.Arrivals) == 0:
		return errors.New("simulate: Load has no jobs")
	case c.Rate <= 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return fmt.Errorf("simulate: Rate is %v, want a positive number of jobs per second", c.Rate)
	case c.BootDelay < 0:
		return fmt.Errorf("simulate: BootDelay is %s, want 0 or more", c.BootDelay)
	case c.Step <= 0 || c.Interval < c.Step || c.Sample < c.Step || c.Interval%c.Step != 0 || c.Sample%c.Step != 0:
		return fmt.Errorf("simulate: Step (%s) must be positive and divide Interval (%s) and Sample (%s)", c.Step, c.Interval, c.Sample)
	case c.Tail < 0:
		return fmt.Errorf("simulate: Tail is %s, want 0 or more", c.Tail)
	case (c.Load.Duration()+c.Tail)/c.Step > 50_000_000:
		return fmt.Errorf("simulate: %s in steps of %s is too many steps; use a larger Step", c.Load.Duration()+c.Tail, c.Step)
	}
	return nil
}

// Sample is the state of a run at one time.
type Sample struct {
	At      time.Duration // from the start
	Backlog int           // jobs waiting
	Workers int           // workers paid for (booting or ready)
	Ready   int           // workers working
}

// Result is the outcome of one run.
type Result struct {
	// Name is Config.Name.
	Name string
	// Policy is the policy's settings, defaults filled.
	Policy autoscale.Options
	// Jobs is how many jobs arrived; Unstarted how many never started
	// before the run's end.
	Jobs, Unstarted int
	// WorkerMinutes is the cost: the sum over time of the workers paid for.
	WorkerMinutes float64
	// P50Wait, P95Wait and MaxWait are percentiles of the time from
	// enqueue to start of the jobs that started (to the step).
	P50Wait, P95Wait, MaxWait time.Duration
	// Changes counts the scale-ups and scale-downs; Peak is the most
	// workers at once.
	Changes, Peak int
	// Series is the backlog and the workers every Config.Sample.
	Series []Sample
}

// worker is a simulated worker: paid since it was asked for, working from
// readyAt.
type worker struct{ readyAt time.Duration }

// Run simulates cfg.
func Run(cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	policy, err := autoscale.NewPolicy(cfg.Policy)
	if err != nil {
		return nil, fmt.Errorf("simulate %s: %w", cfg.Name, err)
	}
	arr := cfg.Load.Arrivals
	res := &Result{Name: cfg.Name, Policy: policy.Options(), Jobs: len(arr)}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // the policy's clock, any origin
	end := cfg.Load.Duration() + cfg.Tail

	var (
		workers  []worker // booting ones at the end
		admitted int      // arrivals enqueued so far
		head     int      // the next job to start
		capacity float64  // work a ready worker can still do this step
		waits    = make([]time.Duration, 0, len(arr))
		workerNs float64
	)
	workers = scale(workers, policy.Options().Min, 0) // ready at the start
	for t := time.Duration(0); t <= end; t += cfg.Step {
		for admitted < len(arr) && arr[admitted] <= t {
			admitted++
		}
		backlog := admitted - head
		if t%cfg.Interval == 0 {
			var oldest time.Duration
			if backlog > 0 {
				oldest = t - arr[head]
			}
			now := start.Add(t)
			d := policy.Decide(autoscale.Input{Now: now, Current: len(workers),
				Metric: autoscale.Metric{Backlog: int64(backlog), OldestAge: oldest, ReadAt: now}})
			if d.Change() {
				policy.Applied(d)
				res.Changes++
				workers = scale(workers, d.Desired, t+cfg.BootDelay)
			}
		}
		ready := 0
		for _, w := range workers {
			if w.readyAt <= t {
				ready++
			}
		}
		capacity += float64(ready) * cfg.Rate * cfg.Step.Seconds()
		n := min(int(capacity), backlog)
		for _, a := range arr[head : head+n] {
			waits = append(waits, t-a)
		}
		head += n
		capacity -= float64(n)
		if head == admitted { // idle workers cannot bank work
			capacity = 0
		}
		workerNs += float64(len(workers)) * float64(cfg.Step)
		res.Peak = max(res.Peak, len(workers))
		if t%cfg.Sample == 0 {
			res.Series = append(res.Series, Sample{At: t, Backlog: admitted - head, Workers: len(workers), Ready: ready})
		}
	}
	res.Unstarted = len(arr) - head
	res.WorkerMinutes = workerNs / float64(time.Minute)
	if len(waits) > 0 {
		slices.Sort(waits)
		res.P50Wait = percentile(waits, 50)
		res.P95Wait = percentile(waits, 95)
		res.MaxWait = waits[len(waits)-1]
	}
	return res, nil
}

// scale returns workers grown or shrunk to n: new workers are ready at
// readyAt; removed ones are the last added (booting first).
func scale(workers []worker, n int, readyAt time.Duration) []worker {
	if n < len(workers) {
		return workers[:n]
	}
	for len(workers) < n {
		workers = append(workers, worker{readyAt: readyAt})
	}
	return workers
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // ceil(n·p/100), 1-based
	return sorted[max(i-1, 0)]
}

// Setting is one policy setting to compare.
type Setting struct {
	Name   string
	Policy autoscale.Options
}

// Settings returns the settings `boiler autoscale simulate` compares,
// between min and max workers: the fixed formations (always min when min
// is not 0, always max), then the backlog policy at 25, 100 and 400 jobs per worker,
// each without and with a 5 minute stabilization window, and a latency
// target of one minute.
func Settings(minWorkers, maxWorkers int) []Setting {
	var s []Setting
	if minWorkers > 0 {
		s = append(s, Setting{fmt.Sprintf("fixed %d", minWorkers), autoscale.Options{Min: minWorkers, Max: minWorkers}})
	}
	s = append(s, Setting{fmt.Sprintf("fixed %d", maxWorkers), autoscale.Options{Min: maxWorkers, Max: maxWorkers}})
	for _, jpw := range []int{25, 100, 400} {
		for _, w := range []time.Duration{autoscale.Disabled, 5 * time.Minute} {
			name := fmt.Sprintf("%d/worker, no window", jpw)
			if w > 0 {
				name = fmt.Sprintf("%d/worker, window %s", jpw, fmtDuration(w))
			}
			s = append(s, Setting{name, autoscale.Options{Min: minWorkers, Max: maxWorkers, JobsPerWorker: jpw, StabilizationWindow: w}})
		}
	}
	s = append(s, Setting{"400/worker, latency 1m, window 5m", autoscale.Options{Min: minWorkers, Max: maxWorkers,
		JobsPerWorker: 400, TargetLatency: time.Minute, StabilizationWindow: 5 * time.Minute}})
	return s
}

// Compare runs base once per setting (base's Name and Policy replaced).
func Compare(base Config, settings []Setting) ([]*Result, error) {
	out := make([]*Result, 0, len(settings))
	for _, s := range settings {
		cfg := base
		cfg.Name, cfg.Policy = s.Name, s.Policy
		r, err := Run(cfg)
		if err != nil {
			return nil, fmt.Errorf("setting %q: %w", s.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// fmtDuration prints d briefly: 5m, 1m30s, 45s, 1h2m.
func fmtDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	for _, z := range []string{"m0s", "h0m"} {
		if len(s) > len(z) && s[len(s)-len(z):] == z {
			s = s[:len(s)-len(z)+1]
		}
	}
	return s
}
