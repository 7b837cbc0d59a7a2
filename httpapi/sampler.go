package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/store"
)

// Queue is one queue as /api/queues, the event stream and the pause and
// resume routes show it.
type Queue struct {
	Name   string                `json:"name"`
	Paused bool                  `json:"paused"`
	Counts map[store.State]int64 `json:"counts"` // every state, zero included
	// OldestAvailableAgeMS is how long the oldest job that can run now
	// has waited; 0 when none waits.
	OldestAvailableAgeMS int64 `json:"oldest_available_age_ms"`
	// JobsPerSecond is the rate of completions over the last RateWindow.
	JobsPerSecond float64 `json:"jobs_per_second"`
}

// snapshot is the queues at one time.
type snapshot struct {
	at            time.Time
	queues        []Queue
	jobsPerSecond float64 // sum over the queues
}

// sample is the completed count of each queue at one time.
type sample struct {
	at        time.Time
	completed map[string]int64
}

// sampler reads queue stats for every reader of the API (requests,
// scrapes, event streams) and measures jobs/s from the change of the
// completed counts between its reads. It runs no goroutine: reads happen
// when someone asks, and a read younger than the asker's maxAge is shared,
// so any number of open event streams cost one QueueStats a second.
//
// A completed count that drops (the retention cleaner deleted old jobs)
// counts as no completion for that interval rather than a negative rate.
type sampler struct {
	client *boiler.Client
	clock  func() time.Time
	window time.Duration

	mu       sync.Mutex // held across the store read: concurrent readers share it
	last     *snapshot
	lastRead time.Duration // how long the last store read took
	history  []sample      // oldest first; at most one sample per window/20
}

func newSampler(c *boiler.Client, clock func() time.Time, window time.Duration) *sampler {
	return &sampler{client: c, clock: clock, window: window}
}

// get returns a snapshot no older than maxAge, reading the store if
// needed. A maxAge of 0 always reads (after a pause, say). A positive
// maxAge (event streams, scrapes) is raised to four times the last read's
// duration, so a store whose stats are slow (a large PostgreSQL table) is
// read at most a fifth of the time rather than back to back.
func (s *sampler) get(ctx context.Context, maxAge time.Duration) (*snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxAge > 0 {
		maxAge = max(maxAge, 4*s.lastRead)
	}
	if s.last != nil && s.clock().Sub(s.last.at) < maxAge {
		return s.last, nil
	}
	began := time.Now()
	stats, err := s.client.QueueStats(ctx)
	s.lastRead = time.Since(began)
	if err != nil {
		return nil, err
	}
	now := s.clock()
	cur := sample{at: now, completed: make(map[string]int64, len(stats))}
	for _, q := range stats {
		cur.completed[q.Name] = q.Counts[store.StateCompleted]
	}
	base := s.base(now)
	snap := &snapshot{at: now, queues: make([]Queue, len(stats))}
	for i, q := range stats {
		out := Queue{Name: q.Name, Paused: q.Paused, Counts: q.Counts}
		if out.Counts == nil {
			out.Counts = map[store.State]int64{}
		}
		for _, st := range store.States {
			out.Counts[st] += 0 // every state present
		}
		if !q.OldestAvailableAt.IsZero() {
			out.OldestAvailableAgeMS = max(0, now.Sub(q.OldestAvailableAt).Milliseconds())
		}
		if base != nil {
			if secs := now.Sub(base.at).Seconds(); secs > 0 {
				out.JobsPerSecond = float64(max(0, cur.completed[q.Name]-base.completed[q.Name])) / secs
			}
		}
		snap.jobsPerSecond += out.JobsPerSecond
		snap.queues[i] = out
	}
	if n := len(s.history); n == 0 || now.Sub(s.history[n-1].at) >= s.window/20 {
		s.history = append(s.history, cur)
	}
	s.last = snap
	return snap, nil
}

// base drops the samples that are older than the window and have a
// younger one also older, and returns the oldest sample left: the start
// of the rate's interval (nil when there is none before now, or when the
// last read is so old that a rate over it would mislead).
func (s *sampler) base(now time.Time) *sample {
	i := 0
	for i+1 < len(s.history) && now.Sub(s.history[i+1].at) >= s.window {
		i++
	}
	s.history = s.history[i:]
	if len(s.history) == 0 || !s.history[0].at.Before(now) || now.Sub(s.history[0].at) > 3*s.window {
		return nil
	}
	return &s.history[0]
}

// queue returns the named queue of snap, or an empty unpaused one.
func (snap *snapshot) queue(name string) Queue {
	for _, q := range snap.queues {
		if q.Name == name {
			return q
		}
	}
	counts := make(map[store.State]int64, len(store.States))
	for _, st := range store.States {
		counts[st] = 0
	}
	return Queue{Name: name, Counts: counts}
}
