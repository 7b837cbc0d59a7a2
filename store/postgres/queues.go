package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/doubleboiler/boiler/store"
)

const pauseSQL = `INSERT INTO {schema}.paused_queues (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`

const resumeSQL = `DELETE FROM {schema}.paused_queues WHERE name = $1`

// statsSQL counts jobs per queue and state, a due scheduled or retryable
// job counting as available, then lists the paused queues.
const statsSQL = `
SELECT queue, state, count(*), min(run_at), false
FROM (
	SELECT queue, run_at,
		CASE WHEN state IN ('scheduled', 'retryable') AND run_at <= $1 THEN 'available' ELSE state END AS state
	FROM {schema}.jobs
) AS j
GROUP BY queue, state
UNION ALL
SELECT name, NULL, 0, NULL, true FROM {schema}.paused_queues`

// QueuePause stops fetches from queue. See store.Store.
func (s *Store) QueuePause(ctx context.Context, queue string) error {
	if queue == "" {
		return errors.New("pausing a queue: empty name")
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.stmt.pause, queue)
		return err
	})
	if err != nil {
		return fmt.Errorf("pausing queue %q: %w", queue, err)
	}
	return nil
}

// QueueResume undoes QueuePause. See store.Store.
func (s *Store) QueueResume(ctx context.Context, queue string) error {
	if queue == "" {
		return errors.New("resuming a queue: empty name")
	}
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.pool.Exec(ctx, s.stmt.resume, queue)
		return err
	})
	if err != nil {
		return fmt.Errorf("resuming queue %q: %w", queue, err)
	}
	return nil
}

// QueueStats describes every queue with jobs or paused. See store.Store.
func (s *Store) QueueStats(ctx context.Context, params *store.QueueStatsParams) ([]*store.QueueStat, error) {
	if params == nil {
		return nil, errors.New("queue stats: nil params")
	}
	var stats []*store.QueueStat
	err := s.retry(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.stmt.stats, params.Now)
		if err != nil {
			return err
		}
		defer rows.Close()
		byName := make(map[string]*store.QueueStat)
		stat := func(name string) *store.QueueStat {
			st := byName[name]
			if st == nil {
				st = &store.QueueStat{Name: name, Counts: make(map[store.State]int64, len(store.States))}
				for _, state := range store.States {
					st.Counts[state] = 0
				}
				byName[name] = st
			}
			return st
		}
		for rows.Next() {
			var (
				name   string
				state  pgtype.Text
				count  int64
				oldest pgtype.Timestamptz
				paused bool
			)
			if err := rows.Scan(&name, &state, &count, &oldest, &paused); err != nil {
				return err
			}
			st := stat(name)
			if paused {
				st.Paused = true
				continue
			}
			st.Counts[store.State(state.String)] = count
			if store.State(state.String) == store.StateAvailable {
				st.OldestAvailableAt = fromTimestamptz(oldest)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		stats = make([]*store.QueueStat, 0, len(byName))
		for _, st := range byName {
			stats = append(stats, st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	slices.SortFunc(stats, func(a, b *store.QueueStat) int { return strings.Compare(a.Name, b.Name) })
	return stats, nil
}
