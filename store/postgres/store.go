package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/doubleboiler/boiler/store"
)

// Store is a job queue in a PostgreSQL schema. It is safe for concurrent
// use, and any number of processes may share one schema.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool // Open made the pool, so Close closes it
	schema   string
	quoted   string // schema as a quoted identifier, for SQL text
	channel  string // LISTEN/NOTIFY channel of inserts
	maxConns int    // the pool's size, bounding retry
	stmt     statements

	listener *listener

	// lastCompact is when QueueStats last compacted the counts (Unix
	// nanoseconds); see compactInterval.
	lastCompact atomic.Int64

	closeOnce sync.Once
}

// Open connects to the database at url (a postgres:// or postgresql:// URL,
// or a "key=value" connection string) with a connection pool, and returns
// a store on it. It does not migrate: call Migrate (or `boiler migrate`).
//
// The URL may carry boiler_schema=NAME (Options.Schema, when opts has none)
// and boiler_synchronous_acks=true (Options.SynchronousAcks); they are
// removed before the URL reaches the driver. Pool settings are the
// driver's URL parameters (pool_max_conns and friends); application_name
// defaults to "boiler".
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	dsn, fromURL, err := splitURLOptions(url)
	if err != nil {
		return nil, err
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	switch {
	case o.Schema == "":
		o.Schema = fromURL.schema
	case fromURL.schema != "" && fromURL.schema != o.Schema:
		return nil, fmt.Errorf("postgres: Options.Schema %q and the URL's %s %q disagree", o.Schema, SchemaParam, fromURL.schema)
	}
	o.SynchronousAcks = o.SynchronousAcks || fromURL.synchronousAcks
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parsing the connection URL: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "boiler"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: creating the pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connecting to %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	s := newStore(pool, o)
	s.ownsPool = true
	return s, nil
}

// New returns a store on a pool the application owns (and closes: Close
// does not close it). Use it to share one pool between the app and the
// queue. It panics if opts is invalid, as it is a programming error; Open
// returns the same problem as an error.
func New(pool *pgxpool.Pool, opts *Options) *Store {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		panic(err)
	}
	return newStore(pool, o)
}

func newStore(pool *pgxpool.Pool, o Options) *Store {
	s := &Store{
		pool:    pool,
		schema:  o.Schema,
		quoted:  pgx.Identifier{o.Schema}.Sanitize(),
		channel: o.Schema + channelSuffix,
	}
	s.stmt = newStatements(s.quoted, o.SynchronousAcks)
	cfg := pool.Config()
	s.maxConns = int(cfg.MaxConns)
	connConfig := cfg.ConnConfig
	s.listener = newListener(s.channel, func(ctx context.Context) (*pgx.Conn, error) {
		return pgx.ConnectConfig(ctx, connConfig.Copy())
	}, o.Logger)
	return s
}

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Schema returns the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Close stops the insert listener, closes the channels ListenInserts
// returned, and closes the pool if Open made it. It is safe to call more
// than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.listener.close()
		if s.ownsPool {
			s.pool.Close()
		}
	})
	return nil
}

// sql returns query with {schema} replaced by the store's quoted schema.
func (s *Store) sql(query string) string {
	return strings.ReplaceAll(query, "{schema}", s.quoted)
}

// dbtx is what the store's statements run on: the pool or a transaction.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// interpretError is the one place the driver's errors become the store's:
// no rows is store.ErrNotFound.
func interpretError(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// retry runs fn, again if it failed because the server closed the
// connection before running it (a server restart or an administrator
// terminating the backend leaves dead connections in the pool, each
// failing once), or rolled it back to break a deadlock. Such a failure
// means the statement, or the transaction fn ran, was rolled back (short
// of a termination landing in the instant between a commit and its
// acknowledgement), so running it again is safe. It tries at most once
// per pooled connection, plus one.
func (s *Store) retry(ctx context.Context, fn func(context.Context) error) error {
	var err error
	for range s.maxConns + 1 {
		err = fn(ctx)
		if err == nil || !(connectionLost(err) || rolledBack(err)) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// connectionLost reports whether err says the connection was gone before
// the statement could run: nothing was sent, or the server is shutting the
// session down (admin_shutdown, crash_shutdown, cannot_connect_now).
func connectionLost(err error) bool {
	if pgconn.SafeToRetry(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03":
			return true
		}
	}
	return false
}

// rolledBack reports whether err says the server rolled the transaction
// back to break a deadlock (two transactions locking the same rows in
// opposite orders, which ending jobs with dependents can do), so running
// it again is safe.
func rolledBack(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Listener = (*Store)(nil)
)
