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

// promoteLimit bounds how many due scheduled or retryable jobs one fetch
// promotes to available, so a burst of a million jobs all due at once is
// spread over many short fetches instead of one long write lock. Oldest
// first, so until such a burst is absorbed the only deviation from the
// fetch order is that a due job not yet promoted waits for a later fetch.
const promoteLimit = 1000

const (
	// Due scheduled and retryable jobs become available; run_at is kept,
	// so they rank by when they became due. Reads jobs_due.
	promoteDueSQL = `UPDATE jobs SET state = 'available'
	WHERE id IN (SELECT id FROM jobs WHERE state IN ('scheduled', 'retryable') AND run_at <= ?
	             ORDER BY run_at LIMIT ?)`

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
// BEGIN IMMEDIATE transaction: promote the due scheduled and retryable
// jobs, read the paused queues, then take jobs queue by queue in the given
// order until Limit is reached.
//
// Why promote rather than select "state IN (pending) AND run_at <= now":
// with future jobs in the same index, a fetch that finds fewer than Limit
// due jobs would walk over every future job of the queue (a large backlog
// of retries or scheduled jobs) on every poll. Promoting keeps the fetch
// index to available jobs only, each promotion is done once per job, and
// jobs_due finds the due ones with one seek.
func (s *Store) JobFetch(ctx context.Context, params *store.JobFetchParams) ([]*store.Job, error) {
	if err := validateFetch(params); err != nil {
		return nil, err
	}
	var jobs []*store.Job
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		now := micros(params.Now)

		promote, err := ts.get(ctx, promoteDueSQL)
		if err != nil {
			return err
		}
		if _, err := promote.ExecContext(ctx, now, promoteLimit); err != nil {
			return fmt.Errorf("promoting due jobs: %w", err)
		}

		paused, err := pausedQueues(ctx, ts)
		if err != nil {
			return err
		}

		fetch, err := ts.get(ctx, fetchSQL)
		if err != nil {
			return err
		}
		for _, q := range params.Queues {
			if len(jobs) >= params.Limit {
				break
			}
			if paused[q] {
				continue
			}
			rows, err := fetch.QueryContext(ctx, now, params.Owner, micros(params.LeaseExpiresAt), q, params.Limit-len(jobs))
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
		}
		return nil
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
