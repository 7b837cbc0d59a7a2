package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/doubleboiler/boiler/store"
)

const (
	insertJobSQL = `INSERT INTO jobs (kind, queue, priority, args, state, max_attempts, timeout_ns,
	enqueued_at, run_at, unique_key, unique_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	uniqueHolderSQL = `SELECT ` + jobColumns + ` FROM jobs WHERE unique_key = ?`
	releaseKeySQL   = `UPDATE jobs SET unique_key = NULL WHERE id = ?`
)

// JobInsertMany inserts the jobs in one transaction; see store.Store.
// Listeners hear of the available ones once it has committed.
func (s *Store) JobInsertMany(ctx context.Context, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	if err := validateInsert(params); err != nil {
		return nil, err
	}
	if len(params.Jobs) == 0 {
		return []store.JobInsertResult{}, nil
	}
	var res []store.JobInsertResult
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = insertJobs(ctx, &txStmts{tx: tx, cache: s.wstmts}, params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("inserting jobs: %w", err)
	}
	s.notifyInserted(res)
	return res, nil
}

// JobInsertManyTx is JobInsertMany inside the caller's transaction, so the
// jobs are enqueued if and only if the caller's own writes commit. tx
// should come from DB() (a BEGIN IMMEDIATE transaction on the Store's
// write connection); a transaction of another *sql.DB on the same file
// works too, but then it competes with the Store for the file's write lock.
//
// Listeners are told when JobInsertManyTx returns, before the caller
// commits: a worker that wakes at once waits for the write connection the
// transaction holds, then finds the jobs if it committed (or nothing if it
// rolled back).
func (s *Store) JobInsertManyTx(ctx context.Context, tx *sql.Tx, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	if tx == nil {
		return nil, errors.New("inserting jobs: the transaction is nil")
	}
	if err := validateInsert(params); err != nil {
		return nil, err
	}
	if len(params.Jobs) == 0 {
		return []store.JobInsertResult{}, nil
	}
	// Statements are prepared on tx itself (and closed with it): tx may
	// belong to another *sql.DB than the Store's statement cache.
	res, err := insertJobs(ctx, &txStmts{tx: tx}, params)
	if err != nil {
		return nil, fmt.Errorf("inserting jobs in the caller's transaction: %w", err)
	}
	s.notifyInserted(res)
	return res, nil
}

// validateInsert checks what the store relies on; the caller validated the
// rest and filled the defaults.
func validateInsert(params *store.JobInsertManyParams) error {
	if params == nil {
		return errors.New("inserting jobs: params are nil")
	}
	if len(params.Jobs) > 0 && params.Now.IsZero() {
		return errors.New("inserting jobs: Now is zero")
	}
	for i, p := range params.Jobs {
		var problem string
		switch {
		case p == nil:
			problem = "is nil"
		case p.Kind == "":
			problem = "has an empty Kind"
		case p.Queue == "":
			problem = "has an empty Queue"
		case p.MaxAttempts < 1:
			problem = fmt.Sprintf("has MaxAttempts %d, want >= 1", p.MaxAttempts)
		case p.Timeout < 0:
			problem = fmt.Sprintf("has a negative Timeout %s", p.Timeout)
		case !json.Valid(p.Args):
			problem = "has Args that are not valid JSON"
		default:
			continue
		}
		return fmt.Errorf("inserting jobs: job %d %s", i, problem)
	}
	return nil
}

// txStmts gives the statements of one transaction, each prepared once:
// from the Store's cache when the transaction is the Store's own, else
// on the transaction itself.
type txStmts struct {
	tx    *sql.Tx
	cache *stmtCache // nil: prepare on tx
	stmts map[string]*sql.Stmt
}

func (t *txStmts) get(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.stmts[query]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if t.cache != nil {
		var err error
		if st, err = t.cache.tx(ctx, t.tx, query); err != nil {
			return nil, err
		}
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, fmt.Errorf("preparing %q: %w", firstLine(query), err)
		}
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt, 4)
	}
	t.stmts[query] = st
	return st, nil
}

// insertJobs inserts params.Jobs one after the other in tx.
func insertJobs(ctx context.Context, ts *txStmts, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	ins, err := ts.get(ctx, insertJobSQL)
	if err != nil {
		return nil, err
	}
	now := params.Now.UTC().Truncate(time.Microsecond)
	nowUS := micros(now)
	res := make([]store.JobInsertResult, len(params.Jobs))
	for i, p := range params.Jobs {
		if p.UniqueKey != "" {
			holder, err := takeUniqueKey(ctx, ts, p.UniqueKey, now)
			if err != nil {
				return nil, fmt.Errorf("job %d (unique key %q): %w", i, p.UniqueKey, err)
			}
			if holder != nil {
				res[i] = store.JobInsertResult{Job: holder, Duplicate: true}
				continue
			}
		}
		j := newJob(p, now)
		r, err := ins.ExecContext(ctx, j.Kind, j.Queue, j.Priority, string(j.Args), string(j.State),
			j.MaxAttempts, int64(j.Timeout), nowUS, micros(j.RunAt), nullString(j.UniqueKey), nullMicros(j.UniqueUntil))
		if err != nil {
			return nil, fmt.Errorf("job %d (kind %q): %w", i, p.Kind, err)
		}
		if j.ID, err = r.LastInsertId(); err != nil {
			return nil, fmt.Errorf("job %d (kind %q): reading its ID: %w", i, p.Kind, err)
		}
		res[i] = store.JobInsertResult{Job: j}
	}
	return res, nil
}

// newJob is the row a new job gets (without its ID): scheduled if RunAt
// is after now, else available (a zero RunAt means now; a past RunAt is
// kept, so the job ranks by when it became due). now is UTC, truncated to
// the microsecond.
func newJob(p *store.JobInsertParams, now time.Time) *store.Job {
	j := &store.Job{
		Kind:        p.Kind,
		Queue:       p.Queue,
		Priority:    p.Priority,
		Args:        p.Args,
		State:       store.StateAvailable,
		MaxAttempts: p.MaxAttempts,
		Timeout:     p.Timeout,
		EnqueuedAt:  now,
		RunAt:       p.RunAt.UTC().Truncate(time.Microsecond),
		UniqueKey:   p.UniqueKey,
	}
	if p.RunAt.IsZero() {
		j.RunAt = now
	} else if j.RunAt.After(now) {
		j.State = store.StateScheduled
	}
	if p.UniqueKey != "" && !p.UniqueUntil.IsZero() {
		j.UniqueUntil = p.UniqueUntil.UTC().Truncate(time.Microsecond)
	}
	return j
}

// takeUniqueKey looks for the job holding key. If it is live at now it is
// returned (the new job is a duplicate); if its hold has ended, the key is
// released (set NULL on that row) so the new job can take it, and nil is
// returned, as when no job has the key.
func takeUniqueKey(ctx context.Context, ts *txStmts, key string, now time.Time) (*store.Job, error) {
	q, err := ts.get(ctx, uniqueHolderSQL)
	if err != nil {
		return nil, err
	}
	holder, err := scanJob(q.QueryRowContext(ctx, key))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up its holder: %w", err)
	}
	if holdsKey(holder, now) {
		return holder, nil
	}
	rel, err := ts.get(ctx, releaseKeySQL)
	if err != nil {
		return nil, err
	}
	if _, err := rel.ExecContext(ctx, holder.ID); err != nil {
		return nil, fmt.Errorf("releasing it from job %d: %w", holder.ID, err)
	}
	return nil, nil
}

// holdsKey reports whether j still holds its unique key at now: until its
// UniqueUntil when set (whatever its state), else until it is finalized.
func holdsKey(j *store.Job, now time.Time) bool {
	if !j.UniqueUntil.IsZero() {
		return now.Before(j.UniqueUntil)
	}
	return !j.State.Finalized()
}
