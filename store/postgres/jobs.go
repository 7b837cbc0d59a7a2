package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/doubleboiler/boiler/store"
)

const getSQL = `SELECT {columns} FROM {schema}.jobs AS j WHERE id = $1`

const getManySQL = `SELECT {columns} FROM {schema}.jobs AS j WHERE id = ANY($1::int8[])`

// cancelSQL cancels a pending or waiting job, flags a running one, and
// leaves a finalized one as it is; the second branch returns the unchanged
// row. A job it cancels tells the jobs waiting for it (finish_deps, called
// after the UPDATE locked the row, sees every waiting job inserted
// meanwhile).
const cancelSQL = `
WITH changed AS (
	UPDATE {schema}.jobs AS j SET
		state = CASE WHEN j.state = 'running' THEN 'running' ELSE 'cancelled' END,
		finalized_at = CASE WHEN j.state = 'running' THEN NULL ELSE $2::timestamptz END,
		cancel_requested = j.state = 'running'
	WHERE j.id = $1 AND j.state IN ('waiting', 'scheduled', 'available', 'retryable', 'running')
	RETURNING {columns}, j.has_dependents AND j.state = 'cancelled' AS tell
)
SELECT {changed}, CASE WHEN c.tell
	THEN {schema}.finish_deps(ARRAY[c.id], ARRAY['cancelled'], ARRAY[c.finalized_at]) ELSE 0 END
FROM changed AS c
UNION ALL
SELECT {columns}, 0 FROM {schema}.jobs AS j WHERE j.id = $1 AND NOT EXISTS (SELECT 1 FROM changed)`

// retrySQL makes a job that is not running available at once; the flag
// says whether it changed, and the second branch returns a running job
// as it is so the caller can tell running from missing.
const retrySQL = `
WITH changed AS (
	UPDATE {schema}.jobs AS j SET
		state = 'available',
		run_at = $2,
		max_attempts = CASE WHEN j.attempt >= j.max_attempts THEN j.attempt + 1 ELSE j.max_attempts END,
		finalized_at = NULL,
		cancel_requested = false
	WHERE j.id = $1 AND j.state <> 'running'
	RETURNING {columns}
)
SELECT *, true FROM changed
UNION ALL
SELECT {columns}, false FROM {schema}.jobs AS j WHERE j.id = $1 AND NOT EXISTS (SELECT 1 FROM changed)`

// deleteSQL deletes a job that is not running, like retrySQL. A job
// deleted before it was finalized counts as cancelled for the jobs waiting
// for it (finish_deps, at $2).
const deleteSQL = `
WITH deleted AS (
	DELETE FROM {schema}.jobs AS j WHERE j.id = $1 AND j.state <> 'running'
	RETURNING {columns}, j.has_dependents AND j.finalized_at IS NULL AS tell
)
SELECT {changed}, true, CASE WHEN c.tell
	THEN {schema}.finish_deps(ARRAY[c.id], ARRAY['cancelled'], ARRAY[$2::timestamptz]) ELSE 0 END
FROM deleted AS c
UNION ALL
SELECT {columns}, false, 0 FROM {schema}.jobs AS j WHERE j.id = $1 AND NOT EXISTS (SELECT 1 FROM deleted)`

// deleteFinalizedSQL deletes a batch of old finalized jobs, skipping any
// another cleaner is deleting. No ORDER BY: which old jobs go first does
// not matter, and a sort would tempt the planner into reading them all.
const deleteFinalizedSQL = `
DELETE FROM {schema}.jobs WHERE id IN (
	SELECT id FROM {schema}.jobs
	WHERE state = $1 AND finalized_at IS NOT NULL AND finalized_at < $2
	LIMIT $3
	FOR UPDATE SKIP LOCKED
)`

// JobGet returns one job. See store.Store.
func (s *Store) JobGet(ctx context.Context, id int64) (*store.Job, error) {
	var j *store.Job
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		j, err = scanJob(s.pool.QueryRow(ctx, s.stmt.get, id))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("getting job %d: %w", id, interpretError(err))
	}
	return j, nil
}

// JobGetMany returns the jobs with the given IDs, in the order of ids.
// See store.Store.
func (s *Store) JobGetMany(ctx context.Context, ids []int64) ([]*store.Job, error) {
	if len(ids) == 0 {
		return []*store.Job{}, nil
	}
	var jobs []*store.Job
	err := s.retry(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.stmt.getMany, ids)
		if err != nil {
			return err
		}
		jobs, err = scanJobs(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("getting %d jobs: %w", len(ids), err)
	}
	byID := make(map[int64]*store.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	out := make([]*store.Job, 0, len(jobs))
	for _, id := range ids {
		if j := byID[id]; j != nil {
			out = append(out, j)
		}
	}
	return out, nil
}

// JobList returns jobs matching the filters, newest first. See store.Store.
func (s *Store) JobList(ctx context.Context, params *store.JobListParams) ([]*store.Job, error) {
	switch {
	case params == nil:
		return nil, errors.New("listing jobs: nil params")
	case params.Limit < 1:
		return nil, fmt.Errorf("listing jobs: Limit is %d, must be at least 1", params.Limit)
	}
	// Only the filters in use go in the statement, so the planner sees
	// each combination as it is.
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	var (
		quoted  []string
		indexed bool // only states with a partial index of their own
	)
	if len(params.States) > 0 {
		// The states are written into the statement, not passed as a
		// parameter, so that the planner sees which partial index holds
		// them (a generic plan could not tell); they are checked names.
		quoted = make([]string, len(params.States))
		final, running, pending, waiting := true, true, true, true
		for i, st := range params.States {
			if !st.Valid() {
				return nil, fmt.Errorf("listing jobs: States[%d] %q is not a state", i, st)
			}
			quoted[i] = "'" + string(st) + "'"
			final = final && st.Finalized()
			running = running && st == store.StateRunning
			pending = pending && st.Pending()
			waiting = waiting && st == store.StateWaiting
		}
		where = append(where, "j.state IN ("+strings.Join(quoted, ", ")+")")
		// Facts the planner cannot know, which let it read the states
		// from a partial index: finalized jobs, and only they, have a
		// FinalizedAt (jobs_finalized_idx); running jobs, and only they,
		// hold a lease (jobs_lease_idx).
		switch {
		case final:
			where = append(where, "j.finalized_at IS NOT NULL")
		case running:
			where = append(where, "j.lease_expires_at IS NOT NULL")
		}
		indexed = final || running || pending || waiting
	}
	if params.Queue != "" {
		add("j.queue = $%d", params.Queue)
	}
	if params.Kind != "" {
		add("j.kind = $%d", params.Kind)
	}
	if params.Workflow != "" {
		add("j.workflow = $%d", params.Workflow)
	}
	if params.BeforeID != 0 {
		add("j.id < $%d", params.BeforeID)
	}
	args = append(args, params.Limit)
	limit := fmt.Sprintf(" LIMIT $%d", len(args))
	from := "SELECT " + s.stmt.columns + " FROM " + s.quoted + ".jobs AS j"
	var query string
	if indexed {
		query = s.listByStateSQL(from, where, quoted, limit)
	} else {
		query = from
		if len(where) > 0 {
			query += " WHERE " + strings.Join(where, " AND ")
		}
		query += " ORDER BY j.id DESC" + limit
	}

	var jobs []*store.Job
	err := s.retry(ctx, func(ctx context.Context) error {
		var (
			rows pgx.Rows
			err  error
		)
		if !indexed {
			rows, err = s.pool.Query(ctx, query, args...)
		} else {
			// One round trip, one implicit transaction: the setting
			// lasts until the list's end (see listByStateSQL).
			batch := &pgx.Batch{}
			batch.Queue(noSeqScanSQL)
			batch.Queue(query, args...)
			br := s.pool.SendBatch(ctx, batch)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return err
			}
			rows, err = br.Query()
		}
		if err != nil {
			return err
		}
		jobs, err = scanJobs(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	return jobs, nil
}

// noSeqScanSQL keeps the planner from walking the whole jobs table for the
// rest of the transaction; see listByStateSQL. Bitmap scans go too: a
// plain index scan marks the entries of dead rows it meets (jobs_lease_idx
// holds one per job that ever ran, until a vacuum), so the next list skips
// them, where a bitmap scan visits them all again (50 ms for 200,000).
// And JIT compilation: the penalty that disables sequential scans makes
// every plan look dear enough to compile, which took 120 ms.
const noSeqScanSQL = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_bitmapscan', 'off', true),
	set_config('jit', 'off', true)`

// rareStateJobs is how many jobs of the listed states, at most, always
// make JobList read them all from their partial index and sort them,
// rather than walk the newest jobs until enough match.
const rareStateJobs = 10_000

// listByStateSQL is JobList's statement when it filters by states that
// have a partial index of their own: running (jobs_lease_idx), pending
// (jobs_fetch_idx, jobs_due_idx), waiting (jobs_waiting_idx) or finalized
// (jobs_finalized_idx).
//
// Walking jobs_pkey down from the newest job and keeping the rows that
// match costs the number of other jobs above them: nothing for available
// jobs on top of a backlog, the whole backlog for the 100 running jobs or
// the completed jobs below it. Reading every row of the states through
// their partial index and sorting them costs their number. The planner can
// only tell the two apart from statistics, which lag behind a queue's
// bursts (a table filled a minute ago has none) and know nothing of where
// the states lie in ID order, so the statement asks the kept counts
// (migration 003) instead: it holds both plans, each behind a one-time
// filter, and runs the sort when the states hold at most rareStateJobs
// jobs or no more than the other states, else the walk. Either way the
// cost stays near the smaller of the two sets.
//
// In the sort branch, ORDER BY j.id + 0 takes jobs_pkey's order away, and
// sequential and bitmap scans are off (noSeqScanSQL: without statistics, a
// partial index bloated by the leases of jobs long finished looked dearer
// than reading every job), so the planner reads the rows through the
// states' partial index.
func (s *Store) listByStateSQL(from string, where, states []string, limit string) string {
	cond := strings.Join(where, " AND ")
	return fmt.Sprintf(`
WITH n AS (
	SELECT coalesce(sum(n) FILTER (WHERE state IN (%[2]s)), 0) AS n, coalesce(sum(n), 0) AS total FROM (
		SELECT state, n FROM %[1]s.queue_counts
		UNION ALL
		SELECT state, n FROM %[1]s.queue_count_deltas
	) AS c
), sort AS (
	SELECT n <= %[5]d OR 2 * n <= total AS sort FROM n
)
SELECT * FROM (
	(%[3]s WHERE %[4]s AND (SELECT sort FROM sort) ORDER BY j.id + 0 DESC%[6]s)
	UNION ALL
	(%[3]s WHERE %[4]s AND NOT (SELECT sort FROM sort) ORDER BY j.id DESC%[6]s)
) AS page
ORDER BY id DESC`, s.quoted, strings.Join(states, ", "), from, cond, rareStateJobs, limit)
}

// JobCancel cancels a job. See store.Store.
func (s *Store) JobCancel(ctx context.Context, params *store.JobCancelParams) (*store.Job, error) {
	if params == nil {
		return nil, errors.New("cancelling a job: nil params")
	}
	var j *store.Job
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		var waiters int32
		j, err = scanJob(s.pool.QueryRow(ctx, s.stmt.cancel, params.ID, params.Now), &waiters)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cancelling job %d: %w", params.ID, interpretError(err))
	}
	return j, nil
}

// JobRetry makes a job available at once. See store.Store.
func (s *Store) JobRetry(ctx context.Context, params *store.JobRetryParams) (*store.Job, error) {
	if params == nil {
		return nil, errors.New("retrying a job: nil params")
	}
	j, err := s.changeUnlessRunning(ctx, s.stmt.retry, params.ID, params.Now)
	if err != nil {
		return nil, fmt.Errorf("retrying job %d: %w", params.ID, err)
	}
	return j, nil
}

// JobDelete deletes a job that is not running. See store.Store. The jobs
// waiting for a job deleted before it was finalized see it cancelled at
// the store's clock (the call has no Now).
func (s *Store) JobDelete(ctx context.Context, id int64) (*store.Job, error) {
	var (
		j       *store.Job
		deleted bool
	)
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		var waiters int32
		j, err = scanJob(s.pool.QueryRow(ctx, s.stmt.delete, id, time.Now().UTC()), &deleted, &waiters)
		return err
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("deleting job %d: %w", id, interpretError(err))
	case !deleted:
		return nil, fmt.Errorf("deleting job %d: %w", id, store.ErrJobRunning)
	}
	return j, nil
}

// changeUnlessRunning runs retrySQL: the job as the statement
// returned it, store.ErrJobRunning if it is running, store.ErrNotFound if
// it does not exist.
func (s *Store) changeUnlessRunning(ctx context.Context, query string, args ...any) (*store.Job, error) {
	var (
		j       *store.Job
		changed bool
	)
	err := s.retry(ctx, func(ctx context.Context) error {
		var err error
		j, err = scanJob(s.pool.QueryRow(ctx, query, args...), &changed)
		return err
	})
	switch {
	case err != nil:
		return nil, interpretError(err)
	case !changed:
		return nil, store.ErrJobRunning
	}
	return j, nil
}

// JobDeleteFinalized deletes a batch of old finalized jobs. See store.Store.
func (s *Store) JobDeleteFinalized(ctx context.Context, params *store.JobDeleteFinalizedParams) (int, error) {
	switch {
	case params == nil:
		return 0, errors.New("deleting finalized jobs: nil params")
	case !params.State.Finalized():
		return 0, fmt.Errorf("deleting finalized jobs: State %q is not a final state", params.State)
	case params.Limit < 1:
		return 0, fmt.Errorf("deleting finalized jobs: Limit is %d, must be at least 1", params.Limit)
	}
	var n int64
	err := s.retry(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, s.stmt.deleteFinalized, string(params.State), params.Before, params.Limit)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting %s jobs: %w", params.State, err)
	}
	return int(n), nil
}
