package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/store"
)

const (
	getJobSQL   = `SELECT ` + jobColumns + ` FROM jobs WHERE id = ?`
	jobStateSQL = `SELECT state FROM jobs WHERE id = ?`

	// A pending job is cancelled, a running one flagged, a finalized one
	// left as it is. (SET expressions all read the row as it was.)
	cancelSQL = `UPDATE jobs SET
		state = CASE WHEN state IN ('scheduled', 'available', 'retryable') THEN 'cancelled' ELSE state END,
		finalized_at = CASE WHEN state IN ('scheduled', 'available', 'retryable') THEN ?2 ELSE finalized_at END,
		cancel_requested = CASE WHEN state = 'running' THEN 1 ELSE cancel_requested END
	WHERE id = ?1
	RETURNING ` + jobColumns

	retrySQL = `UPDATE jobs SET state = 'available', run_at = ?2, finalized_at = NULL, cancel_requested = 0,
		max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END
	WHERE id = ?1 AND state <> 'running'
	RETURNING ` + jobColumns

	deleteSQL = `DELETE FROM jobs WHERE id = ? AND state <> 'running' RETURNING ` + jobColumns

	// The subquery reads jobs_finalized (finalized_at < ? implies the
	// index's finalized_at IS NOT NULL).
	deleteFinalizedSQL = `DELETE FROM jobs WHERE id IN
		(SELECT id FROM jobs WHERE state = ? AND finalized_at < ? LIMIT ?)`
)

// JobGet returns one job, read from the read pool.
func (s *Store) JobGet(ctx context.Context, id int64) (*store.Job, error) {
	st, err := s.rstmts.get(ctx, getJobSQL)
	if err != nil {
		return nil, fmt.Errorf("getting job %d: %w", id, err)
	}
	j, err := scanJob(st.QueryRowContext(ctx, id))
	if err != nil {
		return nil, fmt.Errorf("getting job: %w", interpretError(err, id))
	}
	return j, nil
}

// JobList returns the jobs matching params, newest first; see store.Store.
// Each state is read newest first from jobs_state_id, so listing the few
// discarded jobs of a table of a million completed ones reads only them.
func (s *Store) JobList(ctx context.Context, params *store.JobListParams) ([]*store.Job, error) {
	query, args, err := listQuery(params)
	if err != nil {
		return nil, err
	}
	st, err := s.rstmts.get(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	jobs, err := scanJobs(rows)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	if jobs == nil {
		jobs = []*store.Job{}
	}
	return jobs, nil
}

// listQuery builds JobList's query. Several states become a UNION ALL of
// one limited, index-ordered branch per state (an IN list would sort every
// matching row before applying the limit).
func listQuery(p *store.JobListParams) (string, []any, error) {
	if p == nil {
		return "", nil, errors.New("listing jobs: params are nil")
	}
	if p.Limit < 1 {
		return "", nil, fmt.Errorf("listing jobs: Limit is %d, want >= 1", p.Limit)
	}
	if p.BeforeID < 0 {
		return "", nil, fmt.Errorf("listing jobs: BeforeID is %d, want >= 0", p.BeforeID)
	}
	var states []store.State
	for i, st := range p.States {
		if !st.Valid() {
			return "", nil, fmt.Errorf("listing jobs: States[%d] is %q, not a job state", i, st)
		}
		if !containsState(states, st) {
			states = append(states, st)
		}
	}

	var filter strings.Builder
	var filterArgs []any
	if p.Queue != "" {
		filter.WriteString(" AND queue = ?")
		filterArgs = append(filterArgs, p.Queue)
	}
	if p.Kind != "" {
		filter.WriteString(" AND kind = ?")
		filterArgs = append(filterArgs, p.Kind)
	}
	if p.BeforeID > 0 {
		filter.WriteString(" AND id < ?")
		filterArgs = append(filterArgs, p.BeforeID)
	}

	branch := func(withState bool) string {
		where := "1"
		if withState {
			where = "state = ?"
		}
		return `SELECT ` + jobColumns + ` FROM jobs WHERE ` + where + filter.String() + ` ORDER BY id DESC LIMIT ?`
	}
	switch len(states) {
	case 0:
		return branch(false), append(filterArgs, p.Limit), nil
	case 1:
		return branch(true), append(append([]any{string(states[0])}, filterArgs...), p.Limit), nil
	}
	var q strings.Builder
	var args []any
	for i, st := range states {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString("SELECT * FROM (" + branch(true) + ")")
		args = append(append(append(args, string(st)), filterArgs...), p.Limit)
	}
	q.WriteString(" ORDER BY id DESC LIMIT ?")
	return q.String(), append(args, p.Limit), nil
}

func containsState(states []store.State, s store.State) bool {
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// JobCancel cancels a pending job, flags a running one, and leaves a
// finalized one as it is, in one statement; see store.Store.
func (s *Store) JobCancel(ctx context.Context, params *store.JobCancelParams) (*store.Job, error) {
	if params == nil {
		return nil, errors.New("cancelling job: params are nil")
	}
	if params.Now.IsZero() {
		return nil, fmt.Errorf("cancelling job %d: Now is zero", params.ID)
	}
	var j *store.Job
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, cancelSQL)
		if err != nil {
			return err
		}
		j, err = scanJob(st.QueryRowContext(ctx, params.ID, micros(params.Now)))
		return interpretError(err, params.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("cancelling job: %w", err)
	}
	return j, nil
}

// JobRetry makes a job that is not running available at Now; see
// store.Store. Listeners hear of it like of an insert.
func (s *Store) JobRetry(ctx context.Context, params *store.JobRetryParams) (*store.Job, error) {
	if params == nil {
		return nil, errors.New("retrying job: params are nil")
	}
	if params.Now.IsZero() {
		return nil, fmt.Errorf("retrying job %d: Now is zero", params.ID)
	}
	var j *store.Job
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		var err error
		j, err = unlessRunning(ctx, ts, retrySQL, params.ID, params.ID, micros(params.Now.UTC().Truncate(time.Microsecond)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("retrying job: %w", err)
	}
	s.listeners.notify(j.Queue)
	return j, nil
}

// JobDelete deletes a job that is not running and returns it as it was;
// see store.Store.
func (s *Store) JobDelete(ctx context.Context, id int64) (*store.Job, error) {
	var j *store.Job
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		var err error
		j, err = unlessRunning(ctx, ts, deleteSQL, id, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("deleting job: %w", err)
	}
	return j, nil
}

// unlessRunning runs query (a statement on job id guarded by "state <>
// 'running'" that returns the job's columns) and, when it matched no row,
// tells a missing job (ErrNotFound) from a running one (ErrJobRunning).
func unlessRunning(ctx context.Context, ts *txStmts, query string, id int64, args ...any) (*store.Job, error) {
	st, err := ts.get(ctx, query)
	if err != nil {
		return nil, err
	}
	j, err := scanJob(st.QueryRowContext(ctx, args...))
	if !errors.Is(err, sql.ErrNoRows) {
		return j, err
	}
	stateQ, err := ts.get(ctx, jobStateSQL)
	if err != nil {
		return nil, err
	}
	var state string
	if err := stateQ.QueryRowContext(ctx, id).Scan(&state); err != nil {
		return nil, interpretError(err, id)
	}
	return nil, fmt.Errorf("job %d: %w", id, store.ErrJobRunning)
}

// JobDeleteFinalized deletes up to Limit finalized jobs of one state that
// were finalized before Before; see store.Store.
func (s *Store) JobDeleteFinalized(ctx context.Context, params *store.JobDeleteFinalizedParams) (int, error) {
	switch {
	case params == nil:
		return 0, errors.New("deleting finalized jobs: params are nil")
	case !params.State.Finalized():
		return 0, fmt.Errorf("deleting finalized jobs: State is %q, want completed, discarded or cancelled", params.State)
	case params.Limit < 1:
		return 0, fmt.Errorf("deleting finalized jobs: Limit is %d, want >= 1", params.Limit)
	case params.Before.IsZero():
		return 0, errors.New("deleting finalized jobs: Before is zero")
	}
	var n int64
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, deleteFinalizedSQL)
		if err != nil {
			return err
		}
		r, err := st.ExecContext(ctx, string(params.State), micros(params.Before), params.Limit)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("deleting %s jobs: %w", params.State, err)
	}
	return int(n), nil
}
