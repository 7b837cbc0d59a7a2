package source

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// SQLOptions configure an [SQL] source.
type SQLOptions struct {
	// Query returns one row: the backlog (a count), and optionally, as a
	// second column, how many seconds the oldest waiting job has waited
	// (NULL or absent: unknown, 0). Required. For delayed_job on
	// PostgreSQL:
	//
	//	SELECT count(*), EXTRACT(EPOCH FROM now() - min(run_at))
	//	FROM delayed_jobs
	//	WHERE run_at <= now() AND locked_at IS NULL AND failed_at IS NULL
	Query string
	// Args are the query's arguments. Default none.
	Args []any
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// SQL reads the backlog with a count query, for queues kept in an SQL
// table (delayed_job, GoodJob, Que, a home-made jobs table).
type SQL struct {
	db    *sql.DB
	query string
	args  []any
	now   func() time.Time
}

// NewSQL returns a source running opts.Query on db.
func NewSQL(db *sql.DB, opts SQLOptions) (*SQL, error) {
	if db == nil {
		return nil, errors.New("sql source: the database is nil")
	}
	if strings.TrimSpace(opts.Query) == "" {
		return nil, errors.New("sql source: Query is empty, want a query returning a count")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &SQL{db: db, query: opts.Query, args: slices.Clone(opts.Args), now: opts.Now}, nil
}

// Backlog implements [autoscale.Source].
func (s *SQL) Backlog(ctx context.Context) (autoscale.Metric, error) {
	now := s.now()
	rows, err := s.db.QueryContext(ctx, s.query, s.args...)
	if err != nil {
		return autoscale.Metric{}, fmt.Errorf("running the backlog query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return autoscale.Metric{}, fmt.Errorf("running the backlog query: %w", err)
	}
	if len(cols) != 1 && len(cols) != 2 {
		return autoscale.Metric{}, fmt.Errorf("the backlog query returns %d columns %q, want 1 (a count) or 2 (a count, the oldest job's age in seconds)", len(cols), cols)
	}
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return autoscale.Metric{}, fmt.Errorf("running the backlog query: %w", err)
		}
		return autoscale.Metric{}, errors.New("the backlog query returned no row, want one")
	}
	var (
		count sql.NullInt64
		age   sql.NullFloat64
		dest  = []any{&count, &age}[:len(cols)]
	)
	if err := rows.Scan(dest...); err != nil {
		return autoscale.Metric{}, fmt.Errorf("reading the backlog query's row: %w", err)
	}
	if rows.Next() {
		return autoscale.Metric{}, errors.New("the backlog query returned more than one row, want one (use count(*))")
	}
	if err := rows.Err(); err != nil {
		return autoscale.Metric{}, fmt.Errorf("running the backlog query: %w", err)
	}
	if count.Int64 < 0 {
		return autoscale.Metric{}, fmt.Errorf("the backlog query returned a negative count %d", count.Int64)
	}
	m := autoscale.Metric{Backlog: count.Int64, ReadAt: now}
	if age.Valid && age.Float64 > 0 && !math.IsInf(age.Float64, 0) && !math.IsNaN(age.Float64) {
		m.OldestAge = time.Duration(age.Float64 * float64(time.Second))
	}
	return m, nil
}

var _ autoscale.Source = (*SQL)(nil)
