// Package memguard keeps the in-container autoscaler from starting more
// workers than the container can hold. Too many forked workers is the
// first thing that kills a small container: the kernel's OOM killer ends
// one process, often the web server, and the platform restarts the dyno.
//
// The guard reads the container's memory limit (cgroup v2 memory.max,
// cgroup v1 memory.limit_in_bytes, or a limit given by hand), what it uses
// now, and the average resident memory of one running worker, and allows
// only the workers that keep the container under a fraction (80 %) of its
// limit. It also keeps the count of processes and threads under a cap
// (256 on the smallest Heroku dynos, or the cgroup's pids.max).
//
// [Allow] is the pure decision; [FS] reads the kernel's files under
// configurable roots; [Guard] joins them; [Target] wraps an in-container
// [autoscale.Target] with a guard.
package memguard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"

	"github.com/doubleboiler/boiler/autoscale"
)

// The defaults of [Options].
const (
	DefaultMaxFraction = 0.8
	DefaultProcessCap  = 256
)

// Input is what [Allow] decides from.
type Input struct {
	// Current and Desired are the workers running and the workers wanted.
	Current, Desired int
	// Limit is the container's memory limit in bytes; 0: none known, the
	// memory does not limit.
	Limit int64
	// MaxFraction is the share of Limit the container may use (0.8).
	MaxFraction float64
	// Used is the memory the container uses now, in bytes.
	Used int64
	// WorkerRSS is the average resident memory of one worker, in bytes; 0:
	// unknown (no worker runs yet), so only one more is allowed at a time
	// until one has been measured.
	WorkerRSS int64
	// Tasks is how many processes and threads the container runs now.
	Tasks int64
	// TasksPerWorker is how many tasks one worker adds (at least 1).
	TasksPerWorker int64
	// TaskCap is the most tasks the container may run; 0: no cap.
	TaskCap int64
}

// Verdict is the outcome of [Allow].
type Verdict struct {
	// Allowed is how many workers may run: Desired, or fewer when Held.
	Allowed int
	// Held says the guard allowed fewer than Desired.
	Held bool
	// Reason explains a held verdict (empty otherwise).
	Reason string
}

// Allow returns how many of in.Desired workers fit. It never stops
// workers: a scale-down, or a count already over the limits, is allowed
// as asked, and the guard only refuses new workers.
func Allow(in Input) Verdict {
	if in.Desired <= in.Current {
		return Verdict{Allowed: in.Desired}
	}
	add, reason := in.Desired-in.Current, ""
	if in.TaskCap > 0 {
		per := max(in.TasksPerWorker, 1)
		room := max((in.TaskCap-in.Tasks)/per, 0)
		if int64(add) > room {
			add = int(room)
			reason = fmt.Sprintf("%d processes and threads of a cap of %d, %d per worker: room for %d more",
				in.Tasks, in.TaskCap, per, room)
		}
	}
	if in.Limit > 0 {
		budget := int64(in.MaxFraction*float64(in.Limit)) - in.Used
		var fit int64
		switch {
		case budget <= 0:
			fit = 0
		case in.WorkerRSS <= 0:
			fit = 1 // measure one before trusting a guess
		default:
			fit = budget / in.WorkerRSS
		}
		if int64(add) > fit {
			add = int(fit)
			reason = fmt.Sprintf("memory: %s used of a %s limit (%.0f%%: %s)", mb(in.Used), mb(in.Limit),
				100*in.MaxFraction, mb(int64(in.MaxFraction*float64(in.Limit))))
			if in.WorkerRSS > 0 {
				reason += fmt.Sprintf(", a worker takes about %s: room for %d more", mb(in.WorkerRSS), fit)
			} else if fit == 1 {
				reason += ", a worker's size is not known yet: one more at a time"
			}
		}
	}
	v := Verdict{Allowed: in.Current + add}
	if v.Allowed < in.Desired {
		v.Held = true
		v.Reason = fmt.Sprintf("%s; holding at %d instead of %d", reason, v.Allowed, in.Desired)
	}
	return v
}

// mb formats bytes in MB.
func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

// Options configure a [Guard]. Zero values take the default beside them.
type Options struct {
	// MemoryLimit is the container's memory limit in bytes (the
	// --memory-limit flag). Default 0: read it from the cgroup (v2
	// memory.max, else v1 memory.limit_in_bytes); when neither sets one,
	// memory does not limit.
	MemoryLimit int64
	// MaxFraction is the share of the limit the container may reach.
	// Default 0.8.
	MaxFraction float64
	// ProcessCap is the most processes and threads the container may run.
	// Default 256 (the smallest Heroku dynos), or the cgroup's pids.max
	// when that is lower; negative: no cap.
	ProcessCap int64
	// FS reads the container. Default: /sys/fs/cgroup and /proc.
	FS FS
}

// Guard applies [Allow] to the running container. One guard may protect
// the targets of several process types: their scale-ups take turns (see
// [Target.Set]), so two types cannot both spend the same room.
type Guard struct {
	opts    Options
	limit   Reading
	taskCap int64

	turn sync.Mutex // held by a Target from its check to its change
}

// New reads the container's limits (once: they do not change while it
// runs) and returns a guard.
func New(opts Options) (*Guard, error) {
	opts.MaxFraction = cmp.Or(opts.MaxFraction, DefaultMaxFraction)
	opts.ProcessCap = cmp.Or(opts.ProcessCap, DefaultProcessCap)
	switch {
	case opts.MemoryLimit < 0:
		return nil, fmt.Errorf("memory guard: MemoryLimit is %d, want 0 (read the cgroup) or more", opts.MemoryLimit)
	case opts.MaxFraction <= 0 || opts.MaxFraction > 1 || math.IsNaN(opts.MaxFraction):
		return nil, fmt.Errorf("memory guard: MaxFraction is %v, want more than 0 and at most 1", opts.MaxFraction)
	}
	g := &Guard{opts: opts, taskCap: max(opts.ProcessCap, 0)}
	if opts.MemoryLimit > 0 {
		g.limit = Reading{Value: opts.MemoryLimit, From: "--memory-limit"}
	} else {
		r, err := opts.FS.MemoryLimit()
		if err != nil {
			return nil, fmt.Errorf("memory guard: reading the memory limit: %w", err)
		}
		g.limit = r
	}
	if opts.ProcessCap > 0 {
		r, err := opts.FS.ProcessLimit()
		if err != nil {
			return nil, fmt.Errorf("memory guard: reading the process limit: %w", err)
		}
		if r.From != "" && r.Value < g.taskCap {
			g.taskCap = r.Value
		}
	}
	return g, nil
}

// MemoryLimit returns the limit the guard keeps under (zero: none), and
// where it was read.
func (g *Guard) MemoryLimit() Reading { return g.limit }

// TaskCap returns the cap on processes and threads (0: none).
func (g *Guard) TaskCap() int64 { return g.taskCap }

// Worker is one running worker, as the guard measures it.
type Worker struct {
	// PID is the worker's process id.
	PID int
	// RSS is its resident memory in bytes, its children included when the
	// caller knows them (the supervisor sums a process group); 0: read the
	// process's own VmRSS from proc.
	RSS int64
}

// Check returns how many of desired workers fit, given the running
// workers (for the average size of one).
func (g *Guard) Check(current, desired int, workers []Worker) (Verdict, error) {
	if desired <= current {
		return Verdict{Allowed: desired}, nil
	}
	in := Input{Current: current, Desired: desired, Limit: g.limit.Value, MaxFraction: g.opts.MaxFraction, TaskCap: g.taskCap}
	var rss, tasks, n int64
	for _, w := range workers {
		st, err := g.opts.FS.Status(w.PID)
		if err != nil {
			continue // exited
		}
		size := cmp.Or(w.RSS, st.RSS)
		if size == 0 {
			continue // a kernel thread, or not started yet
		}
		rss, tasks, n = rss+size, tasks+max(st.Threads, 1), n+1
	}
	if n > 0 {
		in.WorkerRSS, in.TasksPerWorker = rss/n, tasks/n
	}
	if in.Limit > 0 {
		used, ok, err := g.opts.FS.MemoryUsed()
		if err != nil {
			return Verdict{}, fmt.Errorf("memory guard: reading the memory in use: %w", err)
		}
		if !ok { // no cgroup accounting: the workers are what we know of
			used.Value = rss
		}
		in.Used = used.Value
	}
	if in.TaskCap > 0 {
		t, err := g.opts.FS.Tasks()
		if err != nil {
			return Verdict{}, fmt.Errorf("memory guard: %w", err)
		}
		in.Tasks = t.Value
	}
	return Allow(in), nil
}

// Formation is the in-container target a guard protects: a process type
// of the supervisor's formation.
type Formation interface {
	autoscale.Target
	// Workers returns the running workers.
	Workers(ctx context.Context) ([]Worker, error)
}

// HeldError is returned by [Target.Set] when the guard allowed fewer
// workers than asked: the allowed count was set, and the scaler will ask
// again at its next decision (by then a worker's size may be known, or
// memory freed).
type HeldError struct{ Verdict Verdict }

func (e *HeldError) Error() string { return "memory guard: " + e.Verdict.Reason }

// Target is an [autoscale.Target] that passes every scale-up through a
// guard.
type Target struct {
	f      Formation
	g      *Guard
	logger *slog.Logger

	lastHeld heldKey // of the latest Set, zero when it was not held; guarded by g.turn
}

// heldKey identifies a hold, so the same hold again is not logged again.
type heldKey struct{ current, desired, allowed int }

// NewTarget wraps f with g. logger receives a line when the guard holds
// back (nil: slog.Default()).
func NewTarget(f Formation, g *Guard, logger *slog.Logger) (*Target, error) {
	if f == nil || g == nil {
		return nil, errors.New("memory guard target: the formation and the guard are required")
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Target{f: f, g: g, logger: logger}, nil
}

// Current implements [autoscale.Target].
func (t *Target) Current(ctx context.Context) (int, error) { return t.f.Current(ctx) }

// Set implements [autoscale.Target]: it sets as many of n workers as fit,
// and returns a *HeldError when that is fewer than n. A hold is logged at
// Warn with its reason, and the same hold again (the same counts) at
// Debug, so a container that stays full writes one line, not one per
// decision. Targets sharing a guard run their Set one at a time.
func (t *Target) Set(ctx context.Context, n int) error {
	t.g.turn.Lock()
	defer t.g.turn.Unlock()
	cur, err := t.f.Current(ctx)
	if err != nil {
		return err
	}
	var workers []Worker
	if n > cur {
		if workers, err = t.f.Workers(ctx); err != nil {
			return fmt.Errorf("memory guard: listing the workers: %w", err)
		}
	}
	v, err := t.g.Check(cur, n, workers)
	if err != nil {
		return err
	}
	if v.Allowed != cur {
		if err := t.f.Set(ctx, v.Allowed); err != nil {
			return err
		}
	}
	if !v.Held {
		t.lastHeld = heldKey{}
		return nil
	}
	key, level := heldKey{cur, n, v.Allowed}, slog.LevelWarn
	if key == t.lastHeld {
		level = slog.LevelDebug
	}
	t.lastHeld = key
	t.logger.LogAttrs(ctx, level, "memory guard holds back workers",
		slog.Int("current", cur), slog.Int("desired", n), slog.Int("allowed", v.Allowed), slog.String("reason", v.Reason))
	return &HeldError{Verdict: v}
}

var _ autoscale.Target = (*Target)(nil)
