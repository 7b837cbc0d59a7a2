package sqlite

import (
	"cmp"
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
	heartbeatSQL       = `UPDATE jobs SET lease_expires_at = ? WHERE state = 'running' AND lease_owner = ?`
	cancelRequestedSQL = `SELECT id FROM jobs WHERE state = 'running' AND lease_owner = ? AND cancel_requested = 1 ORDER BY id`

	// rescueSQL applies JobRescue's rules to up to ?4 running jobs whose
	// lease expired before ?1 (?2 is ?1 as the JSON time of the error).
	rescueSQL = `UPDATE jobs SET
		state = CASE WHEN cancel_requested THEN 'cancelled'
		             WHEN attempt >= max_attempts THEN 'discarded'
		             ELSE 'available' END,
		finalized_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN ?1 END,
		run_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN run_at ELSE ?1 END,
		errors = json_insert(coalesce(errors, '[]'), '$[#]', json_object(
			'attempt', attempt, 'at', ?2,
			'error', ?3 || ' (worker ' || coalesce(lease_owner, '?') || ')')),
		lease_owner = NULL, lease_expires_at = NULL
	WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < ?1 LIMIT ?4)
	RETURNING id, queue, state, has_dependents`
)

// setStateSQL moves n running jobs out of running, each guarded by its
// ID, lease owner and attempt, and returns the ID and queue of those it
// moved, and whether jobs wait for them (has_dependents). Each VALUES row is one entry (see setStateRow): a NULL
// run_at keeps the old one (final states), a NULL error appends nothing,
// a NULL result keeps the old one. SQLite reads the VALUES rows and finds
// each job by its primary key. No two rows may name the same job: which
// of them would apply is undefined.
func setStateSQL(n int) string {
	const row = `(?, ?, ?, ?, ?, ?, ?, ?, ?)`
	return `UPDATE jobs SET state = v.column1, finalized_at = v.column2, run_at = coalesce(v.column3, jobs.run_at),
		errors = CASE WHEN v.column4 IS NULL THEN jobs.errors
		              ELSE json_insert(coalesce(jobs.errors, '[]'), '$[#]', json(v.column4)) END,
		result = coalesce(v.column5, jobs.result), attempt = jobs.attempt - v.column6,
		lease_owner = NULL, lease_expires_at = NULL
	FROM (VALUES ` + row + strings.Repeat(", "+row, n-1) + `) AS v
	WHERE jobs.id = v.column7 AND jobs.lease_owner = v.column8 AND jobs.attempt = v.column9
	  AND jobs.state = 'running'
	RETURNING jobs.id, jobs.queue, jobs.has_dependents`
}

// rescueMessage is the error a rescued job's attempt gets.
const rescueMessage = "lease expired: the worker stopped heartbeating"

// JobSetStateIfRunningMany applies the whole batch in one transaction,
// up to 100 entries per prepared statement; see store.Store. The jobs
// waiting for the finalized ones are updated in the same transaction (in
// the order of params, as if applied one by one); only the jobs flagged
// has_dependents look for them.
func (s *Store) JobSetStateIfRunningMany(ctx context.Context, params []*store.JobSetStateParams) ([]bool, error) {
	args, err := setStateArgs(params)
	if err != nil {
		return nil, err
	}
	applied := make([]bool, len(params))
	if len(params) == 0 {
		return applied, nil
	}
	var woken []string
	err = s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		cs := counts{}
		var depended []int // entries that finalized a job that jobs wait for
		var flat []any
		byID := make(map[int64]int, min(len(params), bigChunk))
		for off, n := 0, 0; off < len(params); off += n {
			n = setStateChunk(params[off:], byID)
			flat = flat[:0]
			for _, a := range args[off : off+n] {
				flat = append(flat, a...)
			}
			err := queryEach(ctx, ts, setStateSQL(n), flat, func(rows *sql.Rows) error {
				var id int64
				var queue string
				var hasDependents bool
				if err := rows.Scan(&id, &queue, &hasDependents); err != nil {
					return err
				}
				k := off + byID[id]
				applied[k] = true
				cs.move(queue, store.StateRunning, params[k].State, 1)
				if hasDependents && params[k].State.Finalized() {
					depended = append(depended, k)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("jobs %d to %d: %w", params[off].ID, params[off+n-1].ID, err)
			}
		}
		if len(depended) > 0 {
			// RETURNING gives no order: restore the order of params.
			slices.Sort(depended)
			done := make([]ended, len(depended))
			for i, k := range depended {
				done[i] = ended{id: params[k].ID, state: params[k].State, at: params[k].Now}
			}
			var err error
			if woken, err = finishDeps(ctx, ts, cs, done); err != nil {
				return err
			}
		}
		return cs.flush(ctx, ts)
	})
	if err != nil {
		return nil, fmt.Errorf("setting job states: %w", err)
	}
	s.notifyQueues(woken)
	return applied, nil
}

// setStateChunk returns how many entries of ps, from the first, go in the
// next statement, and fills byID with their IDs (ID -> index in ps): a
// chunk size (see chunkSize) whose entries name distinct jobs. A chunk
// ends before an ID it already holds, so an entry naming a job twice sees
// the first entry's outcome, as if they were applied one by one.
func setStateChunk(ps []*store.JobSetStateParams, byID map[int64]int) int {
	clear(byID)
	distinct := 0
	for _, p := range ps[:chunkSize(len(ps))] {
		if _, dup := byID[p.ID]; dup {
			break
		}
		byID[p.ID] = distinct
		distinct++
	}
	n := chunkSize(distinct)
	for _, p := range ps[n:distinct] {
		delete(byID, p.ID)
	}
	return n
}

// setStateArgs validates params and returns the arguments of setStateSQL
// for each entry.
func setStateArgs(params []*store.JobSetStateParams) ([][]any, error) {
	args := make([][]any, len(params))
	for i, p := range params {
		if p == nil {
			return nil, fmt.Errorf("setting job states: entry %d is nil", i)
		}
		bad := func(format string, a ...any) error {
			return fmt.Errorf("setting job states: entry %d (job %d): %s", i, p.ID, fmt.Sprintf(format, a...))
		}
		if p.Now.IsZero() {
			return nil, bad("Now is zero")
		}
		var finalizedAt, runAt any
		switch {
		case p.State.Finalized():
			finalizedAt = micros(p.Now)
		case p.State == store.StateRetryable, p.State == store.StateScheduled, p.State == store.StateAvailable:
			t := p.RunAt
			if t.IsZero() {
				t = p.Now
			}
			if p.State == store.StateAvailable && micros(t) > micros(p.Now) {
				return nil, bad("state available with RunAt %s after Now %s", t.UTC().Format(time.RFC3339Nano), p.Now.UTC().Format(time.RFC3339Nano))
			}
			runAt = micros(t)
		default:
			return nil, bad("target state %q is not a state a running job can move to", p.State)
		}
		var errJSON, result any
		if p.Error != nil {
			e, err := attemptErrorJSON(p.Error)
			if err != nil {
				return nil, bad("%v", err)
			}
			errJSON = e
		}
		if len(p.Result) > 0 {
			if !json.Valid(p.Result) {
				return nil, bad("Result is not valid JSON")
			}
			result = string(p.Result)
		}
		undo := 0
		if p.UndoAttempt {
			undo = 1
		}
		args[i] = []any{string(p.State), finalizedAt, runAt, errJSON, result, undo, p.ID, p.Owner, p.Attempt}
	}
	return args, nil
}

// JobHeartbeat extends Owner's leases and lists its jobs a person asked to
// cancel, in one transaction; see store.Store.
func (s *Store) JobHeartbeat(ctx context.Context, params *store.JobHeartbeatParams) (*store.JobHeartbeatResult, error) {
	switch {
	case params == nil:
		return nil, errors.New("heartbeat: params are nil")
	case params.Owner == "":
		return nil, errors.New("heartbeat: Owner is empty")
	case params.LeaseExpiresAt.IsZero():
		return nil, errors.New("heartbeat: LeaseExpiresAt is zero")
	}
	res := &store.JobHeartbeatResult{}
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		hb, err := ts.get(ctx, heartbeatSQL)
		if err != nil {
			return err
		}
		r, err := hb.ExecContext(ctx, micros(params.LeaseExpiresAt), params.Owner)
		if err != nil {
			return fmt.Errorf("extending leases: %w", err)
		}
		n, err := r.RowsAffected()
		if err != nil {
			return fmt.Errorf("extending leases: %w", err)
		}
		res.Extended = int(n)
		if n == 0 {
			return nil
		}
		cr, err := ts.get(ctx, cancelRequestedSQL)
		if err != nil {
			return err
		}
		rows, err := cr.QueryContext(ctx, params.Owner)
		if err != nil {
			return fmt.Errorf("reading cancel requests: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return fmt.Errorf("reading cancel requests: %w", err)
			}
			res.CancelRequested = append(res.CancelRequested, id)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading cancel requests: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeat of %q: %w", params.Owner, err)
	}
	return res, nil
}

// JobRescue returns expired leases' jobs to available (or cancels or
// discards them) in one statement; see store.Store.
func (s *Store) JobRescue(ctx context.Context, params *store.JobRescueParams) (int, error) {
	switch {
	case params == nil:
		return 0, errors.New("rescuing jobs: params are nil")
	case params.Limit < 1:
		return 0, fmt.Errorf("rescuing jobs: Limit is %d, want >= 1", params.Limit)
	case params.Now.IsZero():
		return 0, errors.New("rescuing jobs: Now is zero")
	}
	now := params.Now.UTC().Truncate(time.Microsecond)
	var n int
	var woken []string
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		cs := counts{}
		n = 0
		var done []ended // finalized jobs that jobs wait for
		err := queryEach(ctx, ts, rescueSQL, []any{micros(now), now.Format(time.RFC3339Nano), rescueMessage, params.Limit},
			func(rows *sql.Rows) error {
				var id int64
				var q, state string
				var hasDependents bool
				if err := rows.Scan(&id, &q, &state, &hasDependents); err != nil {
					return err
				}
				cs.move(q, store.StateRunning, store.State(state), 1)
				if hasDependents && store.State(state).Finalized() {
					done = append(done, ended{id: id, state: store.State(state), at: now})
				}
				n++
				return nil
			})
		if err != nil {
			return err
		}
		if len(done) > 0 {
			slices.SortFunc(done, func(a, b ended) int { return cmp.Compare(a.id, b.id) })
			if woken, err = finishDeps(ctx, ts, cs, done); err != nil {
				return err
			}
		}
		return cs.flush(ctx, ts)
	})
	if err != nil {
		return 0, fmt.Errorf("rescuing jobs: %w", err)
	}
	s.notifyQueues(woken)
	return n, nil
}
