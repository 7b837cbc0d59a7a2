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

// periodicColumns are the columns scanPeriodic reads, in its order.
const periodicColumns = `name, spec, kind, args, queue, priority, max_attempts, timeout_ns, catch_up, source,
	created_at, updated_at, last_tick, next_tick, last_job_id`

const (
	// periodicUpsertSQL inserts an entry, or updates the definition of the
	// existing one (created_at and the scheduler's columns are kept).
	periodicUpsertSQL = `INSERT INTO periodic_jobs (` + periodicColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, kind = excluded.kind, args = excluded.args,
			queue = excluded.queue, priority = excluded.priority, max_attempts = excluded.max_attempts,
			timeout_ns = excluded.timeout_ns, catch_up = excluded.catch_up, source = excluded.source,
			updated_at = excluded.updated_at
		RETURNING ` + periodicColumns
	periodicListSQL   = `SELECT ` + periodicColumns + ` FROM periodic_jobs ORDER BY name`
	periodicDeleteSQL = `DELETE FROM periodic_jobs WHERE name = ?`
	periodicTickSQL   = `SELECT last_tick FROM periodic_jobs WHERE name = ?`
	// periodicFiredSQL records tick ?2 of entry ?1; a NULL ?4 (a skipped
	// tick) keeps last_job_id.
	periodicFiredSQL = `UPDATE periodic_jobs SET last_tick = ?2, next_tick = ?3, last_job_id = coalesce(?4, last_job_id)
		WHERE name = ?1`
	periodicSetNextSQL = `UPDATE periodic_jobs SET next_tick = ?2 WHERE name = ?1`
)

// periodicQueries are the write statements of this file.
var periodicQueries = []string{periodicUpsertSQL, periodicDeleteSQL, periodicTickSQL, periodicFiredSQL, periodicSetNextSQL}

// periodicNotFound is the error of a missing periodic job.
func periodicNotFound(name string) error {
	return fmt.Errorf("periodic job %q: %w", name, store.ErrNotFound)
}

// scanPeriodic reads one row of periodicColumns.
func scanPeriodic(sc scanner) (*store.PeriodicJob, error) {
	var (
		p                        store.PeriodicJob
		args                     []byte
		catchUp                  string
		timeoutNS, created, upd  int64
		lastTick, nextTick, last sql.NullInt64
	)
	if err := sc.Scan(&p.Name, &p.Spec, &p.Kind, &args, &p.Queue, &p.Priority, &p.MaxAttempts, &timeoutNS,
		&catchUp, &p.Source, &created, &upd, &lastTick, &nextTick, &last); err != nil {
		return nil, err
	}
	p.Args = json.RawMessage(args)
	p.Timeout = time.Duration(timeoutNS)
	p.CatchUp = store.CatchUp(catchUp)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(upd)
	p.LastTick, p.NextTick = fromNullMicros(lastTick), fromNullMicros(nextTick)
	p.LastJobID = last.Int64
	return &p, nil
}

// PeriodicUpsert inserts a periodic job or updates its definition; see
// store.Store.
func (s *Store) PeriodicUpsert(ctx context.Context, p *store.PeriodicJob) (*store.PeriodicJob, error) {
	if p == nil {
		return nil, errors.New("saving periodic job: it is nil")
	}
	var problem string
	switch {
	case p.Name == "":
		problem = "Name is empty"
	case p.Spec == "":
		problem = "Spec is empty"
	case p.Kind == "":
		problem = "Kind is empty"
	case p.Queue == "":
		problem = "Queue is empty"
	case !json.Valid(p.Args):
		problem = "Args are not valid JSON"
	case p.CatchUp != "" && !p.CatchUp.Valid():
		problem = fmt.Sprintf("CatchUp is %q, want once, skip or all", p.CatchUp)
	case p.UpdatedAt.IsZero():
		problem = "UpdatedAt is zero"
	}
	if problem != "" {
		return nil, fmt.Errorf("saving periodic job %q: %s", p.Name, problem)
	}
	created := p.CreatedAt
	if created.IsZero() {
		created = p.UpdatedAt
	}
	var lastJob any
	if p.LastJobID != 0 {
		lastJob = p.LastJobID
	}
	var got *store.PeriodicJob
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		st, err := s.wstmts.tx(ctx, tx, periodicUpsertSQL)
		if err != nil {
			return err
		}
		got, err = scanPeriodic(st.QueryRowContext(ctx, p.Name, p.Spec, p.Kind, string(p.Args), p.Queue, p.Priority,
			p.MaxAttempts, int64(p.Timeout), string(p.CatchUp), p.Source, micros(created), micros(p.UpdatedAt),
			nullMicros(p.LastTick), nullMicros(p.NextTick), lastJob))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("saving periodic job %q: %w", p.Name, err)
	}
	return got, nil
}

// PeriodicList returns every periodic job, sorted by name, read from the
// read pool; see store.Store.
func (s *Store) PeriodicList(ctx context.Context) ([]*store.PeriodicJob, error) {
	st, err := s.rstmts.get(ctx, periodicListSQL)
	if err != nil {
		return nil, fmt.Errorf("listing periodic jobs: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing periodic jobs: %w", err)
	}
	defer rows.Close()
	ps := []*store.PeriodicJob{}
	for rows.Next() {
		p, err := scanPeriodic(rows)
		if err != nil {
			return nil, fmt.Errorf("listing periodic jobs: %w", err)
		}
		ps = append(ps, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing periodic jobs: %w", err)
	}
	return ps, nil
}

// PeriodicDelete deletes a periodic job; see store.Store.
func (s *Store) PeriodicDelete(ctx context.Context, name string) error {
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, s.wstmts, tx, periodicDeleteSQL, name)
	})
	if err != nil {
		return fmt.Errorf("deleting periodic job: %w", err)
	}
	return nil
}

// PeriodicSetNext records the next tick of a periodic job; see
// store.Store.
func (s *Store) PeriodicSetNext(ctx context.Context, name string, next time.Time) error {
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, s.wstmts, tx, periodicSetNextSQL, name, nullMicros(next))
	})
	if err != nil {
		return fmt.Errorf("setting the next tick of a periodic job: %w", err)
	}
	return nil
}

// execOne runs a write statement about the periodic job name (the first
// argument) and returns ErrNotFound unless it changed one row.
func execOne(ctx context.Context, c *stmtCache, tx *sql.Tx, query string, args ...any) error {
	st, err := c.tx(ctx, tx, query)
	if err != nil {
		return err
	}
	r, err := st.ExecContext(ctx, args...)
	if err != nil {
		return err
	}
	n, err := r.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return periodicNotFound(args[0].(string))
	}
	return nil
}

// PeriodicFire enqueues one tick of a periodic job at most once, in one
// transaction: the check of last_tick, the insert (the code of
// JobInsertMany, so a unique key is honoured) and the record of the tick;
// see store.Store. Listeners hear of the job like of an insert.
func (s *Store) PeriodicFire(ctx context.Context, params *store.PeriodicFireParams) (*store.PeriodicFireResult, error) {
	switch {
	case params == nil:
		return nil, errors.New("firing periodic job: params are nil")
	case params.Tick.IsZero():
		return nil, fmt.Errorf("firing periodic job %q: Tick is zero", params.Name)
	case params.Now.IsZero():
		return nil, fmt.Errorf("firing periodic job %q: Now is zero", params.Name)
	}
	var ins *store.JobInsertManyParams
	if params.Job != nil {
		ins = &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{params.Job}, Now: params.Now}
		if err := validateInsert(ins); err != nil {
			return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
		}
	}
	res := &store.PeriodicFireResult{}
	err := s.inWriteTx(ctx, func(tx *sql.Tx) error {
		ts := &txStmts{tx: tx, cache: s.wstmts}
		*res = store.PeriodicFireResult{}
		tickSt, err := ts.get(ctx, periodicTickSQL)
		if err != nil {
			return err
		}
		var last sql.NullInt64
		if err := tickSt.QueryRowContext(ctx, params.Name).Scan(&last); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return periodicNotFound(params.Name)
			}
			return fmt.Errorf("reading the last tick: %w", err)
		}
		if last.Valid && last.Int64 >= micros(params.Tick) {
			return nil // fired already
		}
		res.Fired = true
		var jobID any
		if ins != nil {
			r, err := insertJobs(ctx, ts, ins)
			if err != nil {
				return fmt.Errorf("inserting its job: %w", err)
			}
			res.Job, res.Duplicate = r[0].Job, r[0].Duplicate
			jobID = res.Job.ID
		}
		fired, err := ts.get(ctx, periodicFiredSQL)
		if err != nil {
			return err
		}
		if _, err := fired.ExecContext(ctx, params.Name, micros(params.Tick), nullMicros(params.NextTick), jobID); err != nil {
			return fmt.Errorf("recording the tick: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("firing periodic job %q at %s: %w", params.Name, params.Tick.UTC().Format(time.RFC3339Nano), err)
	}
	if res.Job != nil && !res.Duplicate {
		s.listeners.Send(res.Job.Queue)
	}
	return res, nil
}
