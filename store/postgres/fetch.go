package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/doubleboiler/boiler/store"
)

// fetchSQL leases jobs through fetch_jobs (migration 001), where the
// statement and the reasons for its shape are. {async} is asyncCommit or
// nothing.
const fetchSQL = `SELECT {columns} FROM {schema}.fetch_jobs($1, $2, $3, $4, $5) AS j {async}`

// setStateSQL applies a batch of guarded state changes in one statement,
// one element of each array per change. Only rows still running under the
// given owner and attempt change; it returns their IDs. {async} is
// asyncCommit or nothing.
//
// A job it ends that has dependents (has_dependents: rare) is handed to
// finish_deps (migration 002) as its row is returned, in the same
// statement. The row is locked by then, and a VOLATILE function's
// statements take a fresh snapshot, so finish_deps sees the job_deps rows
// of inserts that committed while the UPDATE waited for that lock. Two
// dependencies of one waiting job in one batch are two calls, each
// counting its own job_deps row. For the other jobs the CASE costs nothing.
const setStateSQL = `
UPDATE {schema}.jobs AS j SET
	state = p.state,
	attempt = CASE WHEN p.undo THEN j.attempt - 1 ELSE j.attempt END,
	run_at = CASE WHEN p.state IN ('available', 'scheduled', 'retryable') THEN p.run_at ELSE j.run_at END,
	finalized_at = CASE WHEN p.state IN ('completed', 'discarded', 'cancelled') THEN p.now END,
	errors = CASE WHEN p.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(p.error::jsonb) END,
	result = COALESCE(p.result::json, j.result),
	lease_owner = NULL,
	lease_expires_at = NULL
FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[], $5::timestamptz[], $6::timestamptz[],
	$7::text[], $8::text[], $9::bool[])
	AS p(id, owner, attempt, state, now, run_at, error, result, undo)
	{async}
WHERE j.id = p.id AND j.state = 'running' AND j.lease_owner = p.owner AND j.attempt = p.attempt
RETURNING j.id, CASE WHEN j.has_dependents AND j.finalized_at IS NOT NULL
	THEN {schema}.finish_deps(ARRAY[j.id], ARRAY[j.state], ARRAY[j.finalized_at]) END`

// heartbeatSQL extends an owner's leases. It skips rows another statement
// has locked (a completion of that very job, usually) rather than wait:
// waiting could deadlock against a batch completion locking the same rows
// in another order, and a skipped lease is extended at the next beat.
// Running jobs are found through jobs_lease_idx.
const heartbeatSQL = `
UPDATE {schema}.jobs AS j SET lease_expires_at = $2
FROM (
	SELECT id FROM {schema}.jobs
	WHERE lease_expires_at IS NOT NULL AND state = 'running' AND lease_owner = $1
	FOR UPDATE SKIP LOCKED
) AS r
WHERE j.id = r.id
RETURNING j.id, j.cancel_requested`

// rescueSQL handles expired leases, oldest first.
const rescueSQL = `
UPDATE {schema}.jobs AS j SET
	state = CASE WHEN j.cancel_requested THEN 'cancelled'
		WHEN j.attempt >= j.max_attempts THEN 'discarded'
		ELSE 'available' END,
	run_at = CASE WHEN j.cancel_requested OR j.attempt >= j.max_attempts THEN j.run_at ELSE $1::timestamptz END,
	finalized_at = CASE WHEN j.cancel_requested OR j.attempt >= j.max_attempts THEN $1::timestamptz END,
	errors = j.errors || jsonb_build_array(jsonb_build_object(
		'attempt', j.attempt,
		'at', $2::text,
		'error', 'lease of worker ' || coalesce(j.lease_owner, '') || ' expired: the worker died or lost the store')),
	lease_owner = NULL,
	lease_expires_at = NULL
FROM (
	SELECT id FROM {schema}.jobs
	WHERE state = 'running' AND lease_expires_at < $1
	ORDER BY lease_expires_at
	LIMIT $3
	FOR UPDATE SKIP LOCKED
) AS r
WHERE j.id = r.id
RETURNING j.id, j.state, j.has_dependents`

// JobFetch leases up to Limit jobs to Owner. See store.Store.
func (s *Store) JobFetch(ctx context.Context, params *store.JobFetchParams) ([]*store.Job, error) {
	switch {
	case params == nil:
		return nil, errors.New("fetching jobs: nil params")
	case params.Limit < 1:
		return nil, fmt.Errorf("fetching jobs: Limit is %d, must be at least 1", params.Limit)
	case params.Owner == "":
		return nil, errors.New("fetching jobs: Owner is empty")
	case len(params.Queues) == 0:
		return nil, nil
	}
	// A queue listed twice would be scanned twice, and a row locked by
	// this statement is not skipped by its own second scan.
	queues := make([]string, 0, len(params.Queues))
	pos := make(map[string]int, len(params.Queues))
	for _, q := range params.Queues {
		if _, dup := pos[q]; !dup {
			pos[q] = len(queues)
			queues = append(queues, q)
		}
	}
	var jobs []*store.Job
	err := s.retry(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.stmt.fetch, queues, params.Now, int32(params.Limit), params.Owner, params.LeaseExpiresAt)
		if err != nil {
			return err
		}
		jobs, err = scanJobs(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("fetching jobs: %w", err)
	}
	// RETURNING has no order: put the batch in fetch order.
	slices.SortFunc(jobs, func(a, b *store.Job) int {
		return cmp.Or(
			cmp.Compare(pos[a.Queue], pos[b.Queue]),
			cmp.Compare(b.Priority, a.Priority),
			a.RunAt.Compare(b.RunAt),
			cmp.Compare(a.ID, b.ID),
		)
	})
	return jobs, nil
}

// JobSetStateIfRunningMany applies guarded state changes in one statement.
// See store.Store.
func (s *Store) JobSetStateIfRunningMany(ctx context.Context, params []*store.JobSetStateParams) ([]bool, error) {
	applied := make([]bool, len(params))
	// A job listed twice is changed by its first entry only (an UPDATE
	// changes a row once); later entries go in later rounds, in order.
	pending := make([]int, len(params))
	for i := range params {
		pending[i] = i
	}
	for len(pending) > 0 {
		var round, later []int
		seen := make(map[int64]bool, len(pending))
		for _, i := range pending {
			if p := params[i]; p != nil && seen[p.ID] {
				later = append(later, i)
				continue
			} else if p != nil {
				seen[p.ID] = true
			}
			round = append(round, i)
		}
		if err := s.setStateRound(ctx, params, round, applied); err != nil {
			return nil, err
		}
		pending = later
	}
	return applied, nil
}

// setStateRound applies the entries idx of params (distinct jobs) and
// records which were applied.
func (s *Store) setStateRound(ctx context.Context, params []*store.JobSetStateParams, idx []int, applied []bool) error {
	n := len(idx)
	var (
		ids      = make([]int64, n)
		owners   = make([]string, n)
		attempts = make([]int32, n)
		states   = make([]string, n)
		nows     = make([]time.Time, n)
		runAts   = make([]time.Time, n)
		errs     = make([]pgtype.Text, n)
		results  = make([]pgtype.Text, n)
		undo     = make([]bool, n)
	)
	for k, i := range idx {
		p := params[i]
		if err := checkSetState(p); err != nil {
			return fmt.Errorf("setting job states: params[%d]: %w", i, err)
		}
		e, err := attemptErrorJSON(p.Error)
		if err != nil {
			return fmt.Errorf("setting job states: params[%d]: %w", i, err)
		}
		ids[k], owners[k], attempts[k], states[k] = p.ID, p.Owner, int32(p.Attempt), string(p.State)
		nows[k], runAts[k], errs[k], undo[k] = p.Now, p.RunAt, e, p.UndoAttempt
		if runAts[k].IsZero() {
			runAts[k] = p.Now
		}
		if p.Result != nil {
			results[k] = pgtype.Text{String: string(p.Result), Valid: true}
		}
	}
	var done []int64
	err := s.retry(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.stmt.setState, ids, owners, attempts, states, nows, runAts, errs, results, undo)
		if err != nil {
			return err
		}
		defer rows.Close()
		done = done[:0]
		for rows.Next() {
			var (
				id      int64
				waiters pgtype.Int4 // changed by finish_deps; NULL without dependents
			)
			if err := rows.Scan(&id, &waiters); err != nil {
				return err
			}
			done = append(done, id)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("setting the state of %d jobs: %w", n, err)
	}
	ok := make(map[int64]bool, len(done))
	for _, id := range done {
		ok[id] = true
	}
	for k, i := range idx {
		applied[i] = ok[ids[k]]
	}
	return nil
}

// checkSetState names what is wrong with p, if anything.
func checkSetState(p *store.JobSetStateParams) error {
	switch {
	case p == nil:
		return errors.New("nil")
	case p.Now.IsZero():
		return errors.New("Now is zero")
	}
	switch p.State {
	case store.StateCompleted, store.StateDiscarded, store.StateCancelled,
		store.StateRetryable, store.StateAvailable, store.StateScheduled:
		return nil
	}
	return fmt.Errorf("State %q: not a state a running job can move to", p.State)
}

// JobHeartbeat extends Owner's leases. See store.Store.
func (s *Store) JobHeartbeat(ctx context.Context, params *store.JobHeartbeatParams) (*store.JobHeartbeatResult, error) {
	if params == nil || params.Owner == "" {
		return nil, errors.New("heartbeat: Owner is empty")
	}
	var res store.JobHeartbeatResult
	err := s.retry(ctx, func(ctx context.Context) error {
		res = store.JobHeartbeatResult{}
		rows, err := s.pool.Query(ctx, s.stmt.heartbeat, params.Owner, params.LeaseExpiresAt)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var cancel bool
			if err := rows.Scan(&id, &cancel); err != nil {
				return err
			}
			res.Extended++
			if cancel {
				res.CancelRequested = append(res.CancelRequested, id)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("extending the leases of %s: %w", params.Owner, err)
	}
	slices.Sort(res.CancelRequested)
	return &res, nil
}

// JobRescue handles expired leases. See store.Store.
func (s *Store) JobRescue(ctx context.Context, params *store.JobRescueParams) (int, error) {
	switch {
	case params == nil:
		return 0, errors.New("rescuing jobs: nil params")
	case params.Limit < 1:
		return 0, fmt.Errorf("rescuing jobs: Limit is %d, must be at least 1", params.Limit)
	}
	now := params.Now.UTC().Truncate(time.Microsecond)
	var n int
	err := s.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, s.stmt.rescue, now, now.Format(time.RFC3339Nano), params.Limit)
			if err != nil {
				return err
			}
			var e ended
			n = 0
			for rows.Next() {
				var (
					id    int64
					state string
					deps  bool
				)
				if err := rows.Scan(&id, &state, &deps); err != nil {
					rows.Close()
					return err
				}
				n++
				if deps && store.State(state).Finalized() {
					e.add(id, store.State(state), now)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if err := e.finish(ctx, s, tx); err != nil {
				return err
			}
			// Every worker rescues now and then: the count deltas get
			// compacted even when nobody reads QueueStats.
			if _, err := tx.Exec(ctx, s.stmt.compactCounts); err != nil {
				return fmt.Errorf("compacting the counts: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("rescuing jobs: %w", err)
	}
	return n, nil
}
