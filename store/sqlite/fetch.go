package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/doubleboiler/boiler/store"
)

// promoteLimit bounds how many due scheduled or retryable jobs of a
// queue one fetch promotes to available (at least the fetch's Limit), so
// a burst of a million jobs all due at once is spread over many short
// fetches instead of one long write lock. Oldest first, so until such a
// burst is absorbed the only deviation from the fetch order is that a due
// job of higher priority but later RunAt may wait for a later fetch.
const promoteLimit = 1000

const (
	// Whether queue ?1 has a job due for promotion at ?2: one seek in
	// jobs_due, so the usual fetch, with nothing to promote, runs no
	// UPDATE for it.
	anyDueSQL = `SELECT EXISTS (SELECT 1 FROM jobs
		WHERE state IN ('scheduled', 'retryable') AND queue = ?1 AND run_at <= ?2)`

	// Up to ?3 due jobs of queue ?1 in state ?4 (scheduled or retryable)
	// become available; run_at is kept, so they rank by when they became
	// due. Run once per state, so the counts know what moved.
	promoteDueSQL = `UPDATE jobs SET state = 'available'
	WHERE id IN (SELECT id FROM jobs WHERE state IN ('scheduled', 'retryable') AND queue = ?1 AND run_at <= ?2
	             ORDER BY run_at LIMIT ?3)
	  AND state = ?4
	RETURNING id`

	pausedQueuesSQL = `SELECT name FROM queues WHERE paused = 1`

	// The subquery is a range scan of jobs_fetch that stops after LIMIT
	// entries: it reads only available jobs of the queue, in fetch order.
	fetchSQL = `UPDATE jobs SET state = 'running', attempt = attempt + 1,
		attempted_at = ?1, lease_owner = ?2, lease_expires_at = ?3
	WHERE id IN (SELECT id FROM jobs WHERE state = 'available' AND queue = ?4
	             ORDER BY priority DESC, run_at, id LIMIT ?5)
	RETURNING ` + jobColumns
)

// JobFetch leases up to Limit jobs to Owner; see store.Store. It is one
// BEGIN IMMEDIATE transaction: read the paused queues, then for each
// queue in the given order until Limit is reached, promote its due
// scheduled and retryable jobs to available and take available jobs.
//
// Why promote rather than select "state IN (pending) AND run_at <= now":
// with future jobs in the same index, a fetch that finds fewer than Limit
// due jobs would walk over every future job of the queue (a large backlog
// of retries or scheduled jobs) on every poll. Promoting keeps the fetch
// index to available jobs only, each job is promoted once, and jobs_due
// finds a queue's due jobs with one seek. Only the fetched queues are
// promoted, so the due jobs of a queue nobody serves (or a paused one)
// never delay another queue's.
func (s *Store) JobFetch(ctx context.Context, params *store.JobFetchParams) ([]*store.Job, error) {
	if err := validateFetch(params); err != nil {
		return nil, err
	}
	var jobs []*store.Job
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		now := micros(params.Now)
		cs := counts{}

		paused, err := pausedQueues(ctx, ts)
		if err != nil {
			return err
		}
		fetch, err := ts.get(ctx, fetchSQL)
		if err != nil {
			return err
		}
		for _, q := range params.Queues {
			limit := params.Limit - len(jobs)
			if limit <= 0 {
				break
			}
			if paused[q] {
				continue
			}
			if err := promoteDue(ctx, ts, cs, q, now, max(promoteLimit, limit)); err != nil {
				return err
			}
			rows, err := fetch.QueryContext(ctx, now, params.Owner, micros(params.LeaseExpiresAt), q, limit)
			if err != nil {
				return fmt.Errorf("fetching from queue %q: %w", q, err)
			}
			got, err := scanJobs(rows)
			if err != nil {
				return fmt.Errorf("fetching from queue %q: %w", q, err)
			}
			// RETURNING gives no order: restore the fetch order.
			slices.SortFunc(got, func(a, b *store.Job) int {
				return cmp.Or(
					cmp.Compare(b.Priority, a.Priority),
					a.RunAt.Compare(b.RunAt),
					cmp.Compare(a.ID, b.ID),
				)
			})
			jobs = append(jobs, got...)
			cs.move(q, store.StateAvailable, store.StateRunning, int64(len(got)))
		}
		return cs.flush(ctx, ts)
	})
	if err != nil {
		return nil, fmt.Errorf("fetching jobs: %w", err)
	}
	return jobs, nil
}

func validateFetch(p *store.JobFetchParams) error {
	switch {
	case p == nil:
		return errors.New("fetching jobs: params are nil")
	case p.Limit < 1:
		return fmt.Errorf("fetching jobs: Limit is %d, want >= 1", p.Limit)
	case p.Owner == "":
		return errors.New("fetching jobs: Owner is empty")
	case p.Now.IsZero():
		return errors.New("fetching jobs: Now is zero")
	case p.LeaseExpiresAt.IsZero():
		return errors.New("fetching jobs: LeaseExpiresAt is zero")
	}
	for i, q := range p.Queues {
		if q == "" {
			return fmt.Errorf("fetching jobs: Queues[%d] is empty", i)
		}
	}
	return nil
}

// promoteDue makes up to limit due scheduled and retryable jobs of queue
// available (each state in turn), counting them in cs.
func promoteDue(ctx context.Context, ts *txStmts, cs counts, queue string, now int64, limit int) error {
	anyDue, err := ts.get(ctx, anyDueSQL)
	if err != nil {
		return err
	}
	var due bool
	if err := anyDue.QueryRowContext(ctx, queue, now).Scan(&due); err != nil {
		return fmt.Errorf("looking for due jobs in queue %q: %w", queue, err)
	}
	if !due {
		return nil
	}
	for _, from := range []store.State{store.StateScheduled, store.StateRetryable} {
		var n int64
		err := queryEach(ctx, ts, promoteDueSQL, []any{queue, now, limit, string(from)}, func(*sql.Rows) error {
			n++
			return nil
		})
		if err != nil {
			return fmt.Errorf("promoting due %s jobs of queue %q: %w", from, queue, err)
		}
		cs.move(queue, from, store.StateAvailable, n)
	}
	return nil
}

// pausedQueues returns the set of paused queues.
func pausedQueues(ctx context.Context, ts *txStmts) (map[string]bool, error) {
	st, err := ts.get(ctx, pausedQueuesSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading paused queues: %w", err)
	}
	defer rows.Close()
	var paused map[string]bool
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("reading paused queues: %w", err)
		}
		if paused == nil {
			paused = make(map[string]bool)
		}
		paused[name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading paused queues: %w", err)
	}
	return paused, nil
}
