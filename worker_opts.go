package boiler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// WorkerOptions configure a [Worker]. The zero value of every field means
// its default; durations that accept -1 say so.
type WorkerOptions struct {
	// Queues are the queues the worker serves, with their weights.
	// Default [{"default", 1}]. See [ParseQueues] for the command-line
	// form.
	//
	// Every fetch serves the queues in a fresh weighted random order: with
	// high=6, default=3, low=1, high comes first in 60% of the fetches,
	// and low is never starved. A fetch takes jobs from the first queue
	// of its order, then the next if there are free slots left.
	Queues []QueueWeight
	// StrictOrder serves Queues in the order given, ignoring weights: a
	// queue's jobs run only when every queue before it is empty.
	StrictOrder bool
	// Concurrency is how many jobs run at once. Default 100: a job is a
	// goroutine (a few KB), and most jobs wait on the network, so a high
	// count costs little and keeps a small container busy. Lower it for
	// CPU- or memory-heavy jobs.
	Concurrency int
	// FetchBatch is the most jobs one fetch takes. Default
	// min(Concurrency, 100).
	FetchBatch int
	// Prefetch is how many leased jobs the worker keeps waiting beyond
	// the Concurrency it runs, so a job that finishes is followed at once
	// by a waiting one while the next fetch runs in the background,
	// instead of every slot waiting for a fetch. Waiting jobs are leased
	// (their leases are extended like the running ones'); at Stop they are
	// released at once, no attempt charged, and never run. Default
	// FetchBatch; -1: none (a worker fetches only for its free slots).
	//
	// Prefetched jobs wait for a slot of this worker even if another
	// worker is idle: with few long jobs, lower it or set -1.
	Prefetch int
	// LeaseFor is how long a fetched job is leased to this worker; the
	// worker extends its leases every LeaseFor/3 while it runs, and jobs
	// of a worker that died run again about LeaseFor after its last
	// heartbeat. Default 30 s; at least 100 ms.
	LeaseFor time.Duration
	// ShutdownTimeout is how long Stop lets running jobs finish before it
	// cancels their contexts and puts them back in the queue. Default
	// 25 s, inside the 30 s that Heroku and most platforms allow between
	// SIGTERM and SIGKILL.
	ShutdownTimeout time.Duration
	// JobTimeout bounds one attempt of a job whose own Timeout is zero:
	// its context is cancelled after it and the attempt fails as timed
	// out. Default 1 min; -1: no timeout.
	JobTimeout time.Duration
	// PollInterval is how often an idle worker looks for due jobs.
	// Scheduled and retried jobs become due without a notification, so a
	// worker polls even when its store notifies it of inserts. Default
	// 1 s.
	PollInterval time.Duration
	// Retention is how long completed and cancelled jobs are kept before
	// they are deleted. Default 24 h; -1: keep them.
	Retention time.Duration
	// DiscardedRetention is how long discarded jobs (out of attempts) are
	// kept, for a person to look at and retry. Default 7 days; -1: keep
	// them.
	DiscardedRetention time.Duration
	// Backoff is the delay before the next attempt of a job whose attempt
	// number attempt (1 for the first) failed. Default [DefaultBackoff].
	Backoff func(attempt int) time.Duration
	// OnError is called after every failed attempt (an error, a panic, a
	// timeout, an unknown kind), for example to report it to an error
	// tracker. It runs in the job's goroutine after the job's outcome is
	// decided; ctx is the worker's (not the job's, which may be done).
	// Default: none.
	OnError func(ctx context.Context, job *JobRow, err error)
	// Logger receives the worker's logs. Default slog.Default().
	Logger *slog.Logger
	// ID names this worker as the owner of its leases; it must be unique
	// among the workers sharing a store. Default host-pid-random.
	ID string
	// Clock is the time source for every time the worker writes. Default
	// time.Now.
	Clock func() time.Time

	// Periodic are periodic jobs this worker declares: it writes them to
	// the store at start (a job with the same Name is updated; see
	// [PeriodicJob]). A bad entry makes NewWorker fail with an error
	// naming it. Default none.
	//
	// Every worker runs a scheduler, with or without declarations: the
	// workers sharing a store elect one leader through it, which enqueues
	// the ticks of every periodic job in the store (declared in code, on
	// the command line or through the API), each exactly once. When the
	// leader stops it hands over at once; when it dies, another worker
	// takes over once its lease (LeaderLease) expires, and the ticks
	// missed meanwhile are enqueued late (within a minute they count as
	// on time; older ones follow the job's CatchUp).
	Periodic []*PeriodicJob
	// LeaderLease is how long the scheduler's leadership lasts without a
	// renewal; the leader renews it, and the others campaign, every
	// LeaderLease/3. Default 15 s; at least 100 ms.
	LeaderLease time.Duration
}

// Defaults of WorkerOptions.
const (
	defaultConcurrency        = 100
	defaultMaxFetchBatch      = 100
	defaultLeaseFor           = 30 * time.Second
	minLeaseFor               = 100 * time.Millisecond
	defaultShutdownTimeout    = 25 * time.Second
	defaultJobTimeout         = time.Minute
	defaultPollInterval       = time.Second
	defaultRetention          = 24 * time.Hour
	defaultDiscardedRetention = 7 * 24 * time.Hour
	defaultLeaderLease        = 15 * time.Second
	minLeaderLease            = 100 * time.Millisecond
	// workerStaleAfter is how long after its last heartbeat a worker's
	// registry entry is deleted; at least 10 beats (see staleAfter).
	workerStaleAfter = 10 * time.Minute
)

// withDefaults returns a copy of o with every zero field set to its
// default, or an error naming the first bad field.
func (o *WorkerOptions) withDefaults() (*WorkerOptions, error) {
	var w WorkerOptions
	if o != nil {
		w = *o
	}
	if len(w.Queues) == 0 {
		w.Queues = []QueueWeight{{Name: DefaultQueue, Weight: 1}}
	} else {
		w.Queues = append([]QueueWeight(nil), w.Queues...)
	}
	if w.Concurrency == 0 {
		w.Concurrency = defaultConcurrency
	}
	if w.FetchBatch == 0 {
		w.FetchBatch = min(w.Concurrency, defaultMaxFetchBatch)
	}
	switch w.Prefetch {
	case 0:
		w.Prefetch = w.FetchBatch
	case -1:
		w.Prefetch = 0
	}
	setDuration(&w.LeaseFor, defaultLeaseFor)
	setDuration(&w.ShutdownTimeout, defaultShutdownTimeout)
	setDuration(&w.JobTimeout, defaultJobTimeout)
	setDuration(&w.PollInterval, defaultPollInterval)
	setDuration(&w.Retention, defaultRetention)
	setDuration(&w.DiscardedRetention, defaultDiscardedRetention)
	setDuration(&w.LeaderLease, defaultLeaderLease)
	w.Periodic = append([]*PeriodicJob(nil), w.Periodic...)
	if w.Backoff == nil {
		w.Backoff = DefaultBackoff
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	if w.ID == "" {
		w.ID = defaultWorkerID()
	}
	if w.Clock == nil {
		w.Clock = time.Now
	}
	if err := w.validate(); err != nil {
		return nil, err
	}
	return &w, nil
}

func setDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

func (w *WorkerOptions) validate() error {
	seen := make(map[string]bool, len(w.Queues))
	for i := range w.Queues {
		q := &w.Queues[i]
		if err := validateQueueName(q.Name); err != nil {
			return fmt.Errorf("Queues[%d]: %w", i, err)
		}
		if seen[q.Name] {
			return fmt.Errorf("Queues[%d]: queue %q is listed twice", i, q.Name)
		}
		seen[q.Name] = true
		switch {
		case q.Weight == 0:
			q.Weight = 1
		case q.Weight < 0 || q.Weight > maxQueueWeight:
			return fmt.Errorf("Queues[%d]: queue %q has weight %d; weights go from 1 to %d", i, q.Name, q.Weight, maxQueueWeight)
		}
	}
	switch {
	case w.Concurrency < 0:
		return fmt.Errorf("Concurrency must be positive, got %d", w.Concurrency)
	case w.FetchBatch < 0:
		return fmt.Errorf("FetchBatch must be positive, got %d", w.FetchBatch)
	case w.Prefetch < 0:
		return fmt.Errorf("Prefetch must be positive or -1 (none), got %d", w.Prefetch)
	case w.LeaseFor < minLeaseFor:
		return fmt.Errorf("LeaseFor must be at least %s, got %s", minLeaseFor, w.LeaseFor)
	case w.ShutdownTimeout < 0:
		return fmt.Errorf("ShutdownTimeout must not be negative, got %s", w.ShutdownTimeout)
	case w.JobTimeout < 0 && w.JobTimeout != -1:
		return fmt.Errorf("JobTimeout must be positive or -1 (no timeout), got %s", w.JobTimeout)
	case w.PollInterval < 0:
		return fmt.Errorf("PollInterval must be positive, got %s", w.PollInterval)
	case w.Retention < 0 && w.Retention != -1:
		return fmt.Errorf("Retention must be positive or -1 (keep), got %s", w.Retention)
	case w.DiscardedRetention < 0 && w.DiscardedRetention != -1:
		return fmt.Errorf("DiscardedRetention must be positive or -1 (keep), got %s", w.DiscardedRetention)
	case w.LeaderLease < minLeaderLease:
		return fmt.Errorf("LeaderLease must be at least %s, got %s", minLeaderLease, w.LeaderLease)
	case len(w.ID) > 200:
		return errors.New("ID is longer than 200 characters")
	}
	return nil
}

// defaultWorkerID is host-pid-random: readable in the dashboard, unique
// even for two workers in one process.
func defaultWorkerID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}
