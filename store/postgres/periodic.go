package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/doubleboiler/boiler/store"
)

// periodicColumns are the columns scanPeriodic reads, in its order.
const periodicColumns = `name, spec, kind, args, queue, priority, max_attempts, timeout_ns, catch_up, source,
	created_at, updated_at, last_tick, next_tick, last_job_id`

// periodicUpsertSQL inserts an entry, or updates the definition of the
// existing one, keeping its CreatedAt and the scheduler's bookkeeping.
const periodicUpsertSQL = `
INSERT INTO {schema}.periodic_jobs AS p (` + periodicColumns + `)
VALUES ($1, $2, $3, $4::json, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (name) DO UPDATE SET
	spec = excluded.spec, kind = excluded.kind, args = excluded.args, queue = excluded.queue,
	priority = excluded.priority, max_attempts = excluded.max_attempts, timeout_ns = excluded.timeout_ns,
	catch_up = excluded.catch_up, source = excluded.source, updated_at = excluded.updated_at
RETURNING ` + periodicColumns

const periodicListSQL = `SELECT ` + periodicColumns + ` FROM {schema}.periodic_jobs ORDER BY name COLLATE "C"`

const periodicDeleteSQL = `DELETE FROM {schema}.periodic_jobs WHERE name = $1`

const periodicSetNextSQL = `UPDATE {schema}.periodic_jobs SET next_tick = $2 WHERE name = $1`

// periodicTickSQL claims a tick: it records it only if no later or equal
// tick was fired. The row lock it takes makes a concurrent fire of the
// same tick wait for this transaction, then find the tick taken.
const periodicTickSQL = `
UPDATE {schema}.periodic_jobs SET last_tick = $2, next_tick = $3
WHERE name = $1 AND (last_tick IS NULL OR last_tick < $2)
RETURNING name`

const periodicExistsSQL = `SELECT true FROM {schema}.periodic_jobs WHERE name = $1`

const periodicLastJobSQL = `UPDATE {schema}.periodic_jobs SET last_job_id = $2 WHERE name = $1`

// scanPeriodic reads one row of periodicColumns.
func scanPeriodic(row pgx.Row) (*store.PeriodicJob, error) {
	var (
		p                     store.PeriodicJob
		args                  []byte
		priority, maxAttempts int32
		timeoutNS             int64
		catchUp               string
		lastTick, nextTick    pgtype.Timestamptz
		lastJobID             pgtype.Int8
	)
	err := row.Scan(&p.Name, &p.Spec, &p.Kind, &args, &p.Queue, &priority, &maxAttempts, &timeoutNS, &catchUp, &p.Source,
		&p.CreatedAt, &p.UpdatedAt, &lastTick, &nextTick, &lastJobID)
	if err != nil {
		return nil, err
	}
	p.Args = args
	p.Priority, p.MaxAttempts, p.Timeout = int(priority), int(maxAttempts), time.Duration(timeoutNS)
	p.CatchUp = store.CatchUp(catchUp)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	p.LastTick, p.NextTick = fromTimestamptz(lastTick), fromTimestamptz(nextTick)
	p.LastJobID = lastJobID.Int64
	return &p, nil
}

// PeriodicUpsert inserts a periodic job or updates its definition. See
// store.Store.
func (s *Store) PeriodicUpsert(ctx context.Context, p *store.PeriodicJob) (*store.PeriodicJob, error) {
	switch {
	case p == nil:
		return nil, errors.New("saving a periodic job: nil")
	case p.Name == "":
		return nil, errors.New("saving a periodic job: Name is empty")
	case len(p.Args) == 0:
		return nil, fmt.Errorf("saving periodic job %q: Args is empty, must be JSON", p.Name)
	}
	var out *store.PeriodicJob
	err := s.retry(ctx, func(ctx context.Context) (err error) {
		out, err = scanPeriodic(s.pool.QueryRow(ctx, s.sql(periodicUpsertSQL), p.Name, p.Spec, p.Kind, string(p.Args),
			p.Queue, int32(p.Priority), int32(p.MaxAttempts), int64(p.Timeout), string(p.CatchUp), p.Source,
			p.CreatedAt, p.UpdatedAt, toTimestamptz(p.LastTick), toTimestamptz(p.NextTick),
			pgtype.Int8{Int64: p.LastJobID, Valid: p.LastJobID != 0}))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("saving periodic job %q: %w", p.Name, err)
	}
	return out, nil
}

// PeriodicList returns every periodic job, sorted by Name. See
// store.Store.
func (s *Store) PeriodicList(ctx context.Context) ([]*store.PeriodicJob, error) {
	var out []*store.PeriodicJob
	err := s.retry(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, s.sql(periodicListSQL))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.PeriodicJob, error) {
			return scanPeriodic(row)
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing periodic jobs: %w", err)
	}
	return out, nil
}

// PeriodicDelete deletes the periodic job name. See store.Store.
func (s *Store) PeriodicDelete(ctx context.Context, name string) error {
	var n int64
	err := s.retry(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, s.sql(periodicDeleteSQL), name)
		n = tag.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("deleting periodic job %q: %w", name, err)
	case n == 0:
		return fmt.Errorf("deleting periodic job %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// PeriodicSetNext records the next tick of the periodic job name. See
// store.Store.
func (s *Store) PeriodicSetNext(ctx context.Context, name string, next time.Time) error {
	var n int64
	err := s.retry(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, s.sql(periodicSetNextSQL), name, toTimestamptz(next))
		n = tag.RowsAffected()
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("setting the next tick of periodic job %q: %w", name, err)
	case n == 0:
		return fmt.Errorf("setting the next tick of periodic job %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// PeriodicFire enqueues one tick of a periodic job, at most once. See
// store.Store. The tick is claimed, the job inserted and the job's ID
// recorded in one transaction.
func (s *Store) PeriodicFire(ctx context.Context, params *store.PeriodicFireParams) (*store.PeriodicFireResult, error) {
	if params == nil {
		return nil, errors.New("firing a periodic job: nil params")
	}
	var cols *insertColumns
	if params.Job != nil {
		var err error
		insert := &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{params.Job}, Now: params.Now}
		if cols, err = newInsertColumns(insert); err != nil {
			return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
		}
	}
	var res *store.PeriodicFireResult
	err := s.retry(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			res = &store.PeriodicFireResult{}
			var name string
			err := tx.QueryRow(ctx, s.sql(periodicTickSQL), params.Name, params.Tick, toTimestamptz(params.NextTick)).Scan(&name)
			if errors.Is(err, pgx.ErrNoRows) {
				var exists bool
				err = tx.QueryRow(ctx, s.sql(periodicExistsSQL), params.Name).Scan(&exists)
				return interpretError(err) // no rows: store.ErrNotFound; a row: already fired
			}
			if err != nil {
				return err
			}
			res.Fired = true
			if params.Job == nil {
				return nil
			}
			insert := &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{params.Job}, Now: params.Now}
			results, err := s.insert(ctx, tx, insert, cols)
			if err != nil {
				return err
			}
			res.Job, res.Duplicate = results[0].Job, results[0].Duplicate
			_, err = tx.Exec(ctx, s.sql(periodicLastJobSQL), params.Name, res.Job.ID)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("firing periodic job %q: %w", params.Name, err)
	}
	return res, nil
}
