package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/doubleboiler/boiler/store"
)

const (
	pauseSQL = `INSERT INTO queues (name, paused, updated_at) VALUES (?1, 1, ?2)
		ON CONFLICT (name) DO UPDATE SET paused = 1, updated_at = ?2`
	resumeSQL = `UPDATE queues SET paused = 0, updated_at = ?2 WHERE name = ?1 AND paused = 1`

	countsSQL = `SELECT queue, state, n FROM queue_counts WHERE n <> 0`
	pausedSQL = `SELECT name FROM queues WHERE paused = 1`
	// Scheduled and retryable jobs already due (not yet promoted by a
	// fetch), from jobs_due.
	dueSQL = `SELECT queue, state, count(*), min(run_at) FROM jobs
		WHERE state IN ('scheduled', 'retryable') AND run_at <= ? GROUP BY queue, state`
	// The earliest run_at among the available jobs of one queue with a
	// priority of at most ?2: one seek in jobs_fetch.
	oldestAvailableSQL = `SELECT priority, run_at FROM jobs
		WHERE state = 'available' AND queue = ?1 AND priority <= ?2
		ORDER BY priority DESC, run_at LIMIT 1`
)

// QueuePause stops fetches from queue; see store.Store.
func (s *Store) QueuePause(ctx context.Context, queue string) error {
	if queue == "" {
		return errors.New("pausing queue: the queue name is empty")
	}
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, pauseSQL)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, queue, micros(s.opts.Clock()))
		return err
	})
	if err != nil {
		return fmt.Errorf("pausing queue %q: %w", queue, err)
	}
	return nil
}

// QueueResume undoes QueuePause; see store.Store.
func (s *Store) QueueResume(ctx context.Context, queue string) error {
	if queue == "" {
		return errors.New("resuming queue: the queue name is empty")
	}
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, resumeSQL)
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, queue, micros(s.opts.Clock()))
		return err
	})
	if err != nil {
		return fmt.Errorf("resuming queue %q: %w", queue, err)
	}
	s.listeners.Send(queue)
	return nil
}

// QueueStats describes every queue that has jobs or is paused, sorted by
// name; see store.Store. It reads one snapshot from the read pool: counts
// from queue_counts (kept by every change, so the cost does not grow with
// the number of jobs), due jobs from jobs_due, the oldest available job
// from jobs_fetch.
func (s *Store) QueueStats(ctx context.Context, params *store.QueueStatsParams) ([]*store.QueueStat, error) {
	if params == nil {
		return nil, errors.New("queue stats: params are nil")
	}
	if params.Now.IsZero() {
		return nil, errors.New("queue stats: Now is zero")
	}
	if err := s.rstmts.ready(ctx); err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ts := &txStmts{tx: tx, cache: s.rstmts}

	stats := map[string]*store.QueueStat{}
	stat := func(q string) *store.QueueStat {
		if st, ok := stats[q]; ok {
			return st
		}
		st := &store.QueueStat{Name: q, Counts: make(map[store.State]int64, len(store.States))}
		for _, state := range store.States {
			st.Counts[state] = 0
		}
		stats[q] = st
		return st
	}

	err = queryEach(ctx, ts, countsSQL, nil, func(rows *sql.Rows) error {
		var q, state string
		var n int64
		if err := rows.Scan(&q, &state, &n); err != nil {
			return err
		}
		stat(q).Counts[store.State(state)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue stats: counting jobs: %w", err)
	}
	err = queryEach(ctx, ts, pausedSQL, nil, func(rows *sql.Rows) error {
		var q string
		if err := rows.Scan(&q); err != nil {
			return err
		}
		stat(q).Paused = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue stats: reading paused queues: %w", err)
	}
	err = queryEach(ctx, ts, dueSQL, []any{micros(params.Now)}, func(rows *sql.Rows) error {
		var q, state string
		var n, minRunAt int64
		if err := rows.Scan(&q, &state, &n, &minRunAt); err != nil {
			return err
		}
		st := stat(q)
		st.Counts[store.State(state)] -= n
		st.Counts[store.StateAvailable] += n
		if t := fromMicros(minRunAt); st.OldestAvailableAt.IsZero() || t.Before(st.OldestAvailableAt) {
			st.OldestAvailableAt = t
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("queue stats: counting due jobs: %w", err)
	}

	out := make([]*store.QueueStat, 0, len(stats))
	for _, st := range stats {
		var total int64
		for _, n := range st.Counts {
			total += n
		}
		if total == 0 && !st.Paused {
			continue
		}
		if err := oldestAvailable(ctx, ts, st); err != nil {
			return nil, fmt.Errorf("queue stats: oldest job of queue %q: %w", st.Name, err)
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *store.QueueStat) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// oldestAvailable lowers st.OldestAvailableAt to the earliest run_at of
// the queue's available jobs. jobs_fetch is ordered by priority first, so
// it takes one seek per distinct priority (a skip scan).
func oldestAvailable(ctx context.Context, ts *txStmts, st *store.QueueStat) error {
	q, err := ts.get(ctx, oldestAvailableSQL)
	if err != nil {
		return err
	}
	atMost := int64(math.MaxInt64)
	for {
		var prio, runAt int64
		err := q.QueryRowContext(ctx, st.Name, atMost).Scan(&prio, &runAt)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if t := fromMicros(runAt); st.OldestAvailableAt.IsZero() || t.Before(st.OldestAvailableAt) {
			st.OldestAvailableAt = t
		}
		if prio == math.MinInt64 {
			return nil
		}
		atMost = prio - 1
	}
}

// queryEach runs a query of ts and calls fn for each row.
func queryEach(ctx context.Context, ts *txStmts, query string, args []any, fn func(*sql.Rows) error) error {
	st, err := ts.get(ctx, query)
	if err != nil {
		return err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
