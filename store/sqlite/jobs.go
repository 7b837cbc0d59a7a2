package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/store"
)

const (
	getJobSQL   = `SELECT ` + jobColumns + ` FROM jobs WHERE id = ?`
	jobStateSQL = `SELECT state, queue, has_dependents FROM jobs WHERE id = ?`
	// getJobsSQL reads the jobs ?1 (a JSON array of IDs).
	getJobsSQL = `SELECT ` + jobColumns + ` FROM jobs WHERE id IN (SELECT value FROM json_each(?1))`

	// A pending or waiting job is cancelled, a running one flagged, a
	// finalized one left as it is. (SET expressions all read the row as it
	// was.)
	cancelSQL = `UPDATE jobs SET
		state = CASE WHEN state IN ('waiting', 'scheduled', 'available', 'retryable') THEN 'cancelled' ELSE state END,
		finalized_at = CASE WHEN state IN ('waiting', 'scheduled', 'available', 'retryable') THEN ?2 ELSE finalized_at END,
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
		(SELECT id FROM jobs WHERE state = ? AND finalized_at < ? LIMIT ?)
	RETURNING queue`
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

// JobGetMany returns the jobs with the given IDs in the order of ids,
// leaving out those that do not exist, read from the read pool in one
// query; see store.Store.
func (s *Store) JobGetMany(ctx context.Context, ids []int64) ([]*store.Job, error) {
	if len(ids) == 0 {
		return []*store.Job{}, nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("getting jobs: encoding IDs: %w", err)
	}
	st, err := s.rstmts.get(ctx, getJobsSQL)
	if err != nil {
		return nil, fmt.Errorf("getting jobs: %w", err)
	}
	rows, err := st.QueryContext(ctx, string(b))
	if err != nil {
		return nil, fmt.Errorf("getting jobs: %w", err)
	}
	found, err := scanJobs(rows)
	if err != nil {
		return nil, fmt.Errorf("getting jobs: %w", err)
	}
	byID := make(map[int64]*store.Job, len(found))
	for _, j := range found {
		byID[j.ID] = j
	}
	jobs := make([]*store.Job, 0, len(found))
	for _, id := range ids {
		if j, ok := byID[id]; ok {
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// JobList returns the jobs matching params, newest first; see store.Store.
// Each state is read the cheapest way the indexes of the hot path allow
// (see listBranch): there is no index on state alone, which every state
// change would have to maintain.
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
// one limited branch per state, each read its own way.
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
	for i, st := range p.States {
		if !st.Valid() {
			return "", nil, fmt.Errorf("listing jobs: States[%d] is %q, not a job state", i, st)
		}
	}
	// In lifecycle order, each once: the query text depends only on the
	// set of states, so the prepared statements stay few.
	var states []store.State
	for _, st := range store.States {
		if slices.Contains(p.States, st) {
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
	if p.Workflow != "" {
		filter.WriteString(" AND workflow = ?")
		filterArgs = append(filterArgs, p.Workflow)
	}
	if p.BeforeID > 0 {
		filter.WriteString(" AND id < ?")
		filterArgs = append(filterArgs, p.BeforeID)
	}

	byWorkflow := p.Workflow != ""
	switch len(states) {
	case 0:
		return listBranch("", byWorkflow, filter.String()), append(filterArgs, p.Limit), nil
	case 1:
		return listBranch(states[0], byWorkflow, filter.String()), append(filterArgs, p.Limit), nil
	}
	var q strings.Builder
	var args []any
	for i, st := range states {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		q.WriteString("SELECT * FROM (" + listBranch(st, byWorkflow, filter.String()) + ")")
		args = append(append(args, filterArgs...), p.Limit)
	}
	q.WriteString(" ORDER BY id DESC LIMIT ?")
	return q.String(), append(args, p.Limit), nil
}

// listBranch is the query listing the newest jobs of one state (of all
// states if state is ""), with filter's extra conditions. The state is a
// validated constant, written into the query so that the planner can
// match the partial indexes:
//   - with byWorkflow (filter has "workflow = ?"), the workflow's members,
//     usually few, are read from jobs_workflow, whatever the state;
//   - available and completed, the states that can hold most of the
//     table, walk the table newest first (the available jobs are the
//     newest, and the recently completed ones are near the end);
//   - the others, usually few, read their partial index and sort.
func listBranch(state store.State, byWorkflow bool, filter string) string {
	from, where := "jobs", "1"
	if byWorkflow {
		from = "jobs INDEXED BY jobs_workflow"
		if state != "" {
			where = "state = '" + string(state) + "'"
		}
		return `SELECT ` + jobColumns + ` FROM ` + from + ` WHERE ` + where + filter + ` ORDER BY id DESC LIMIT ?`
	}
	switch state {
	case store.StateWaiting:
		from, where = "jobs INDEXED BY jobs_waiting", "state = 'waiting'"
	case store.StateAvailable, store.StateCompleted:
		from, where = "jobs NOT INDEXED", "state = '"+string(state)+"'"
	case store.StateScheduled, store.StateRetryable:
		from, where = "jobs INDEXED BY jobs_due", "state IN ('scheduled', 'retryable') AND state = '"+string(state)+"'"
	case store.StateRunning:
		from, where = "jobs INDEXED BY jobs_running", "state = 'running'"
	case store.StateDiscarded, store.StateCancelled:
		from, where = "jobs INDEXED BY jobs_finalized", "state = '"+string(state)+"' AND finalized_at IS NOT NULL"
	}
	return `SELECT ` + jobColumns + ` FROM ` + from + ` WHERE ` + where + filter + ` ORDER BY id DESC LIMIT ?`
}

// JobCancel cancels a pending or waiting job, flags a running one, and
// leaves a finalized one as it is; see store.Store. A job it cancels ends
// for the jobs waiting for it, in the same transaction.
func (s *Store) JobCancel(ctx context.Context, params *store.JobCancelParams) (*store.Job, error) {
	if params == nil {
		return nil, errors.New("cancelling job: params are nil")
	}
	if params.Now.IsZero() {
		return nil, fmt.Errorf("cancelling job %d: Now is zero", params.ID)
	}
	var j *store.Job
	var woken []string
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		was, queue, hasDependents, err := jobState(ctx, ts, params.ID)
		if err != nil {
			return err
		}
		st, err := ts.get(ctx, cancelSQL)
		if err != nil {
			return err
		}
		if j, err = scanJob(st.QueryRowContext(ctx, params.ID, micros(params.Now))); err != nil {
			return interpretError(err, params.ID)
		}
		cs := counts{}
		cs.move(queue, was, j.State, 1)
		if hasDependents && !was.Finalized() && j.State.Finalized() {
			woken, err = finishDeps(ctx, ts, cs, []ended{{id: j.ID, state: j.State, at: params.Now}})
			if err != nil {
				return err
			}
		}
		return cs.flush(ctx, ts)
	})
	if err != nil {
		return nil, fmt.Errorf("cancelling job: %w", err)
	}
	s.notifyQueues(woken)
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
		was, queue, _, err := jobStateUnlessRunning(ctx, ts, params.ID)
		if err != nil {
			return err
		}
		st, err := ts.get(ctx, retrySQL)
		if err != nil {
			return err
		}
		now := micros(params.Now.UTC().Truncate(time.Microsecond))
		if j, err = scanJob(st.QueryRowContext(ctx, params.ID, now)); err != nil {
			return interpretError(err, params.ID)
		}
		cs := counts{}
		cs.move(queue, was, store.StateAvailable, 1)
		return cs.flush(ctx, ts)
	})
	if err != nil {
		return nil, fmt.Errorf("retrying job: %w", err)
	}
	s.listeners.Send(j.Queue)
	return j, nil
}

// JobDelete deletes a job that is not running and returns it as it was;
// see store.Store. A job deleted before it was finalized ends, as
// cancelled, for the jobs waiting for it, at the time of Options.Clock
// (JobDelete takes no Now).
func (s *Store) JobDelete(ctx context.Context, id int64) (*store.Job, error) {
	var j *store.Job
	var woken []string
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		was, _, hasDependents, err := jobStateUnlessRunning(ctx, ts, id)
		if err != nil {
			return err
		}
		st, err := ts.get(ctx, deleteSQL)
		if err != nil {
			return err
		}
		if j, err = scanJob(st.QueryRowContext(ctx, id)); err != nil {
			return interpretError(err, id)
		}
		cs := counts{}
		cs.add(j.Queue, j.State, -1)
		if hasDependents && !was.Finalized() {
			woken, err = finishDeps(ctx, ts, cs, []ended{{id: id, state: stateDeleted, at: s.opts.Clock()}})
			if err != nil {
				return err
			}
		}
		return cs.flush(ctx, ts)
	})
	if err != nil {
		return nil, fmt.Errorf("deleting job: %w", err)
	}
	s.notifyQueues(woken)
	return j, nil
}

// jobState returns the state and queue of job id, and whether jobs wait
// (or waited) for it, or ErrNotFound.
func jobState(ctx context.Context, ts *txStmts, id int64) (state store.State, queue string, hasDependents bool, err error) {
	st, err := ts.get(ctx, jobStateSQL)
	if err != nil {
		return "", "", false, err
	}
	var s string
	if err := st.QueryRowContext(ctx, id).Scan(&s, &queue, &hasDependents); err != nil {
		return "", "", false, interpretError(err, id)
	}
	return store.State(s), queue, hasDependents, nil
}

// jobStateUnlessRunning is jobState, with ErrJobRunning for a running job.
func jobStateUnlessRunning(ctx context.Context, ts *txStmts, id int64) (store.State, string, bool, error) {
	state, queue, hasDependents, err := jobState(ctx, ts, id)
	if err == nil && state == store.StateRunning {
		err = fmt.Errorf("job %d: %w", id, store.ErrJobRunning)
	}
	return state, queue, hasDependents, err
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
	var n int
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		cs := counts{}
		n = 0
		err := queryEach(ctx, ts, deleteFinalizedSQL, []any{string(params.State), micros(params.Before), params.Limit},
			func(rows *sql.Rows) error {
				var q string
				if err := rows.Scan(&q); err != nil {
					return err
				}
				cs.add(q, params.State, -1)
				n++
				return nil
			})
		if err != nil {
			return err
		}
		return cs.flush(ctx, ts)
	})
	if err != nil {
		return 0, fmt.Errorf("deleting %s jobs: %w", params.State, err)
	}
	return n, nil
}
