package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/doubleboiler/boiler/store"
)

const pauseSQL = `INSERT INTO {schema}.paused_queues (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`

const resumeSQL = `DELETE FROM {schema}.paused_queues WHERE name = $1`

// compactCountsSQL folds the count deltas into queue_counts (see
// migration 003). It is derived data, so it commits without waiting for
// the disk: a crash loses the compaction or not, and never a count.
//
// QueueStats compacts at most once per compactInterval (a dashboard or an
// autoscaler may poll it many times a second, and each compaction is a
// write); JobRescue, which every worker runs every half lease, always does.
// Between compactions the deltas pile up at a few rows per statement that
// changed jobs, and QueueStats sums them.
const compactCountsSQL = `SELECT {schema}.compact_queue_counts(), set_config('synchronous_commit', 'off', true)`

// statsSQL reads QueueStats in one snapshot, as rows of (what, queue,
// state, n, at):
//
//   - count: the jobs of a state, queue_counts plus the deltas not yet
//     compacted (migration 003);
//   - due: scheduled or retryable jobs already due at $1, which count as
//     available, and the earliest RunAt among them (through jobs_due_idx);
//   - oldest: the earliest RunAt among a queue's available jobs, read at
//     the start of jobs_fetch_idx's range for each of the queue's
//     priorities (a loose index scan: one seek per distinct priority);
//   - paused: a paused queue.
const statsSQL = `
WITH counts AS (
	SELECT queue, state, sum(n)::bigint AS n
	FROM (
		SELECT queue, state, n FROM {schema}.queue_counts
		UNION ALL
		SELECT queue, state, n FROM {schema}.queue_count_deltas
	) AS c
	GROUP BY queue, state
	HAVING sum(n) <> 0
)
SELECT 'count', queue, state, n, NULL::timestamptz FROM counts
UNION ALL
SELECT 'due', queue, state, count(*), min(run_at) FROM {schema}.jobs
WHERE state IN ('scheduled', 'retryable') AND run_at <= $1
GROUP BY queue, state
UNION ALL
SELECT 'oldest', c.queue, NULL, 0, o.run_at
FROM counts AS c
CROSS JOIN LATERAL (
	WITH RECURSIVE prio(p) AS (
		SELECT max(priority) FROM {schema}.jobs
		WHERE queue = c.queue AND state = 'available'
		UNION ALL
		SELECT (SELECT max(priority) FROM {schema}.jobs
			WHERE queue = c.queue AND state = 'available' AND priority < prio.p)
		FROM prio WHERE prio.p IS NOT NULL
	)
	SELECT min((SELECT j.run_at FROM {schema}.jobs AS j
		WHERE j.queue = c.queue AND j.state = 'available' AND j.priority = prio.p
		ORDER BY j.run_at LIMIT 1)) AS run_at
	FROM prio WHERE prio.p IS NOT NULL
) AS o
WHERE c.state = 'available'
UNION ALL
SELECT 'paused', name, NULL, 0, NULL FROM {schema}.paused_queues`

// compactInterval is the least time between two compactions of the
// counts by QueueStats.
const compactInterval = time.Second

// compactDue reports whether QueueStats should compact the counts now, and
// if so records that it does.
func (s *Store) compactDue() bool {
	now := time.Now().UnixNano()
	last := s.lastCompact.Load()
	return now-last >= int64(compactInterval) && s.lastCompact.CompareAndSwap(last, now)
}

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
// Its cost does not grow with the number of jobs (see statsSQL), except
// for due scheduled and retryable jobs not fetched yet.
func (s *Store) QueueStats(ctx context.Context, params *store.QueueStatsParams) ([]*store.QueueStat, error) {
	if params == nil {
		return nil, errors.New("queue stats: nil params")
	}
	var stats []*store.QueueStat
	compact := s.compactDue()
	err := s.retry(ctx, func(ctx context.Context) error {
		// One round trip, one implicit transaction: the read sees the
		// compaction's result.
		batch := &pgx.Batch{}
		if compact {
			batch.Queue(s.stmt.compactCounts)
		}
		batch.Queue(s.stmt.stats, params.Now)
		br := s.pool.SendBatch(ctx, batch)
		defer br.Close()
		if compact {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("compacting the counts: %w", err)
			}
		}
		rows, err := br.Query()
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
		oldest := func(st *store.QueueStat, at time.Time) {
			if !at.IsZero() && (st.OldestAvailableAt.IsZero() || at.Before(st.OldestAvailableAt)) {
				st.OldestAvailableAt = at
			}
		}
		for rows.Next() {
			var (
				what, name string
				state      pgtype.Text
				n          int64
				at         pgtype.Timestamptz
			)
			if err := rows.Scan(&what, &name, &state, &n, &at); err != nil {
				return err
			}
			st := stat(name)
			switch what {
			case "count":
				st.Counts[store.State(state.String)] += n
			case "due":
				st.Counts[store.State(state.String)] -= n
				st.Counts[store.StateAvailable] += n
				oldest(st, fromTimestamptz(at))
			case "oldest":
				oldest(st, fromTimestamptz(at))
			case "paused":
				st.Paused = true
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
