package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/store"
)

// QueueStater is the part of a [store.Store] the [Store] source uses.
type QueueStater interface {
	QueueStats(ctx context.Context, params *store.QueueStatsParams) ([]*store.QueueStat, error)
}

// StoreOptions configure a [Store] source.
type StoreOptions struct {
	// Queues are the queues whose jobs count (for example the urgent
	// ones, leaving out a low queue of imports). Default: every queue.
	Queues []string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Store reads the backlog of named queues of a boiler store: the jobs
// available now (due scheduled and retryable jobs included), and how long
// the oldest of them has waited. A paused queue does not count: its jobs
// cannot run, so workers for them would be wasted.
type Store struct {
	st     QueueStater
	queues []string
	now    func() time.Time
}

// NewStore returns a source reading st.
func NewStore(st QueueStater, opts StoreOptions) (*Store, error) {
	if st == nil {
		return nil, errors.New("store source: the store is nil")
	}
	for i, q := range opts.Queues {
		if q == "" {
			return nil, fmt.Errorf("store source: queue %d of %q is empty", i+1, opts.Queues)
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{st: st, queues: slices.Clone(opts.Queues), now: opts.Now}, nil
}

// Backlog implements [autoscale.Source].
func (s *Store) Backlog(ctx context.Context) (autoscale.Metric, error) {
	now := s.now()
	stats, err := s.st.QueueStats(ctx, &store.QueueStatsParams{Now: now})
	if err != nil {
		return autoscale.Metric{}, fmt.Errorf("reading queue stats: %w", err)
	}
	m := autoscale.Metric{ReadAt: now}
	for _, q := range stats {
		if q.Paused || (len(s.queues) > 0 && !slices.Contains(s.queues, q.Name)) {
			continue
		}
		n := q.Counts[store.StateAvailable]
		m.Backlog += n
		if n > 0 && !q.OldestAvailableAt.IsZero() {
			m.OldestAge = max(m.OldestAge, now.Sub(q.OldestAvailableAt))
		}
	}
	return m, nil
}

var _ autoscale.Source = (*Store)(nil)
