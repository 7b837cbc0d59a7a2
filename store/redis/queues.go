package redis

import (
	"context"
	"fmt"
	"strconv"

	"github.com/doubleboiler/boiler/store"
)

// QueuePause adds the queue to the paused set, which the fetch script
// checks.
func (s *Store) QueuePause(ctx context.Context, queue string) error {
	if err := s.client.SAdd(ctx, s.prefix+"paused", queue).Err(); err != nil {
		return fmt.Errorf("pausing queue %q: %w", queue, err)
	}
	return nil
}

// QueueResume removes the queue from the paused set and wakes idle
// workers, since its jobs are eligible again.
func (s *Store) QueueResume(ctx context.Context, queue string) error {
	if err := s.client.SRem(ctx, s.prefix+"paused", queue).Err(); err != nil {
		return fmt.Errorf("resuming queue %q: %w", queue, err)
	}
	if err := s.client.Publish(ctx, s.prefix+"inserts", queue).Err(); err != nil {
		return fmt.Errorf("resuming queue %q: waking workers: %w", queue, err)
	}
	return nil
}

// QueueStats counts each queue's jobs per state in one read-only script,
// from the cardinalities of its sets and its counters.
func (s *Store) QueueStats(ctx context.Context, params *store.QueueStatsParams) ([]*store.QueueStat, error) {
	now, err := encodeTime(params.Now, "Now")
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	rows, err := s.scripts.stats.Run(ctx, s.client, s.keys, now).Slice()
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", interpretError(err))
	}
	stats := make([]*store.QueueStat, 0, len(rows))
	for _, r := range rows {
		row, ok := r.([]any)
		if !ok || len(row) != 3+len(store.States) {
			return nil, fmt.Errorf("queue stats: unexpected reply %v", r)
		}
		name, _ := row[0].(string)
		paused, _ := row[1].(int64)
		st := &store.QueueStat{Name: name, Paused: paused == 1, Counts: make(map[store.State]int64, len(store.States))}
		// Rows list the counts in the order of store.States.
		for i, state := range store.States {
			n, ok := row[2+i].(int64)
			if !ok {
				return nil, fmt.Errorf("queue stats: queue %q: unexpected %s count %v", name, state, row[2+i])
			}
			st.Counts[state] = n
		}
		if oldest, _ := row[2+len(store.States)].(string); oldest != "" {
			us, err := strconv.ParseInt(oldest, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("queue stats: queue %q: oldest available %q: %w", name, oldest, err)
			}
			st.OldestAvailableAt = decodeMicros(us)
		}
		stats = append(stats, st)
	}
	return stats, nil
}
