package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/doubleboiler/boiler/internal/fanout"
	"github.com/doubleboiler/boiler/store"
)

// Options configure a Store. The zero value (or a nil *Options) is the
// default for every field.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// process (another boiler process writing to the same file) before it
	// fails with SQLITE_BUSY. Default (zero): 5s. Negative is an error.
	BusyTimeout time.Duration

	// MaxReaders caps the read pool used by JobGet, JobList and
	// QueueStats. Reads never block writes in WAL mode. Default (zero): 4.
	// Negative is an error.
	MaxReaders int

	// Clock gives the time of the changes that take no Now from the
	// caller: the updated_at of QueuePause and QueueResume, which is
	// informational, and the time at which JobDelete of a job not yet
	// finalized cancels (or wakes) the jobs waiting for it. Default (nil):
	// time.Now.
	Clock func() time.Time
}

// withDefaults returns a copy of o (nil allowed) with its zero fields
// filled, or an error naming the first bad field.
func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.BusyTimeout < 0 {
		return c, fmt.Errorf("sqlite options: BusyTimeout is %s, want >= 0 (0: the default 5s)", c.BusyTimeout)
	}
	if c.MaxReaders < 0 {
		return c, fmt.Errorf("sqlite options: MaxReaders is %d, want >= 0 (0: the default 4)", c.MaxReaders)
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 5 * time.Second
	}
	if c.MaxReaders == 0 {
		c.MaxReaders = 4
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c, nil
}

// Store is a job store in one SQLite file. It is safe for concurrent use,
// and several processes may open the same file; see the package doc for
// the locking model.
type Store struct {
	path  string
	opts  Options
	write *sql.DB // one connection: every write of this process, in turn
	read  *sql.DB // a small pool of query_only connections

	wstmts *stmtCache
	rstmts *stmtCache

	checkpointer *checkpointer

	listeners fanout.Set // the channels of ListenInserts
}

// Open opens (creating it if needed) the SQLite database file at path and
// switches it to WAL mode. It does not create the schema: call Migrate.
// A nil opts means the defaults.
func Open(path string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database %q: %w", path, err)
	}
	busyMS := o.BusyTimeout.Milliseconds()
	base := "file:" + escapePath(abs)
	// Every write transaction is BEGIN IMMEDIATE (_txlock): it takes the
	// write lock when it starts, so two processes never deadlock upgrading
	// a read lock, and a busy one waits in the busy handler instead.
	//
	// Page caches are small (4 MB for the writer, SQLite's default 2 MB
	// per reader): a queue's hot pages are few (the fetch index, the
	// table's newest pages, the counts), the operating system caches the
	// file anyway, and the cache is most of a worker's memory. A 16 MB
	// writer cache was no faster in the fetch-and-complete benchmarks,
	// the million-row one included, and cost a W1 worker 10 MB of RSS.
	writeDSN := fmt.Sprintf("%s?_txlock=immediate&_busy_timeout=%d&_journal_mode=WAL&_synchronous=NORMAL"+
		"&_pragma=temp_store(MEMORY)&_pragma=cache_size(-4000)", base, busyMS)
	readDSN := fmt.Sprintf("%s?_busy_timeout=%d&_pragma=cache_size(-2000)&_query_only=1", base, busyMS)

	write, err := sql.Open("sqlite", writeDSN)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite database %q: %w", path, err)
	}
	// One connection serializes this process's writes: they queue in
	// database/sql (honouring their contexts) rather than fighting over the
	// file lock with SQLITE_BUSY. It is kept for the Store's lifetime.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	ctx, cancel := context.WithTimeout(context.Background(), o.BusyTimeout+5*time.Second)
	defer cancel()
	// The first connection creates the file and sets WAL mode (kept in the
	// file) before any reader opens it.
	if err := write.PingContext(ctx); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("opening sqlite database %q: %w", path, err)
	}

	read, err := sql.Open("sqlite", readDSN)
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("opening sqlite database %q for reading: %w", path, err)
	}
	read.SetMaxOpenConns(o.MaxReaders)
	read.SetMaxIdleConns(o.MaxReaders)
	if err := read.PingContext(ctx); err != nil {
		_ = write.Close()
		_ = read.Close()
		return nil, fmt.Errorf("opening sqlite database %q for reading: %w", path, err)
	}

	// The checkpointer's connection: see checkpoint.go.
	ckpt, err := sql.Open("sqlite", fmt.Sprintf("%s?_busy_timeout=%d&_synchronous=NORMAL", base, busyMS))
	if err != nil {
		_ = write.Close()
		_ = read.Close()
		return nil, fmt.Errorf("opening sqlite database %q for checkpoints: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	ckpt.SetMaxIdleConns(1)
	ckpt.SetConnMaxLifetime(0)
	ckpt.SetConnMaxIdleTime(0)

	return &Store{
		path:         path,
		opts:         o,
		write:        write,
		read:         read,
		wstmts:       newStmtCache(write, writeQueries()),
		rstmts:       newStmtCache(read, readQueries()),
		checkpointer: startCheckpointer(ckpt),
	}, nil
}

// checkPath rejects paths that cannot name a database file shared by the
// Store's write and read connections.
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("opening sqlite database: the path is empty")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return fmt.Errorf("opening sqlite database %q: want a file path (in-memory databases and file: URIs are not supported)", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("opening sqlite database %q: directory %q: %w", path, dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("opening sqlite database %q: %q is not a directory", path, dir)
	}
	return nil
}

// escapePath makes an absolute file path safe inside a SQLite file: URI:
// the characters the URI syntax gives a meaning to are percent-encoded.
func escapePath(path string) string {
	var b strings.Builder
	for _, r := range path {
		switch r {
		case '%', '?', '#':
			b.WriteString(url.PathEscape(string(r)))
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// DB returns the Store's write handle. A transaction begun on it is a
// BEGIN IMMEDIATE transaction on the Store's only write connection, so it
// can enqueue atomically with the caller's own writes through
// JobInsertManyTx. While it is open every other write of this Store waits:
// keep it short, and never call the Store's other writing methods from
// inside it (they would wait for the connection it holds).
func (s *Store) DB() *sql.DB { return s.write }

// Close closes the listener channels and the database connections.
func (s *Store) Close() error {
	s.listeners.Close()
	return errors.Join(
		s.checkpointer.close(),
		s.wstmts.close(),
		s.rstmts.close(),
		s.read.Close(),
		s.write.Close(),
	)
}

// stmtCache holds the statements prepared on one *sql.DB, by query text.
//
// Statements must be prepared while no transaction holds the connection
// they need: the write handle has a single connection, so preparing on it
// from inside a write transaction would wait for itself. The write
// statements are therefore all prepared at once, by ready, before the
// first write transaction (after Migrate created the tables), and a
// transaction reuses them through Tx.StmtContext, which finds the
// statement already prepared on its connection.
type stmtCache struct {
	db      *sql.DB
	queries []string // prepared together by ready
	ok      atomic.Bool
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, queries []string) *stmtCache {
	return &stmtCache{db: db, queries: queries, stmts: make(map[string]*sql.Stmt)}
}

// ready prepares every statement of c.queries not yet prepared. Call it
// outside any transaction of c.db.
func (c *stmtCache) ready(ctx context.Context) error {
	if c.ok.Load() {
		return nil
	}
	for _, q := range c.queries {
		if _, err := c.get(ctx, q); err != nil {
			return err
		}
	}
	c.ok.Store(true)
	return nil
}

// get returns the prepared statement for query, preparing it on first
// use. Call it outside any transaction of c.db.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("preparing %q (has the schema been migrated?): %w", firstLine(query), err)
	}
	c.stmts[query] = st
	return st, nil
}

// tx returns the already prepared statement for query, bound to tx.
func (c *stmtCache) tx(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st, ok := c.stmts[query]
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("statement %q was not prepared before its transaction", firstLine(query))
	}
	return tx.StmtContext(ctx, st), nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.stmts {
		errs = append(errs, st.Close())
		delete(c.stmts, q)
	}
	c.ok.Store(false)
	return errors.Join(errs...)
}

// firstLine shortens a query for an error message.
func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		return q[:i] + " ..."
	}
	return q
}

// writeQueries are the statements of the write handle.
func writeQueries() []string {
	qs := []string{
		uniqueHolderSQL, releaseKeySQL, adjustCountSQL,
		anyDueSQL, promoteDueSQL, pausedQueuesSQL, fetchSQL,
		setStateSQL(bigChunk), setStateSQL(smallChunk), setStateSQL(1), heartbeatSQL, cancelRequestedSQL, rescueSQL,
		jobStateSQL, cancelSQL, retrySQL, deleteSQL, deleteFinalizedSQL,
		pauseSQL, resumeSQL,
	}
	qs = append(qs, depsQueries...)
	qs = append(qs, workerQueries...)
	qs = append(qs, leaderQueries...)
	qs = append(qs, periodicQueries...)
	for _, wide := range []bool{false, true} {
		qs = append(qs, insertSQL(bigChunk, wide), insertSQL(smallChunk, wide), insertSQL(1, wide))
	}
	return qs
}

// readQueries are the statements of the read pool (besides JobList's,
// which are built per call and prepared on first use).
func readQueries() []string {
	return []string{getJobSQL, getJobsSQL, countsSQL, pausedSQL, dueSQL, oldestAvailableSQL, workerListSQL, periodicListSQL}
}

// inWriteTx runs fn in a write (BEGIN IMMEDIATE) transaction with the
// write statements prepared, and commits it, or rolls it back if fn
// fails.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := s.wstmts.ready(ctx); err != nil {
		return err
	}
	return s.rawWriteTx(ctx, fn)
}

// rawWriteTx is inWriteTx without preparing the statements (Migrate's
// transaction runs before the tables exist).
func (s *Store) rawWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	s.checkpointer.poke()
	return nil
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Listener = (*Store)(nil)
)
