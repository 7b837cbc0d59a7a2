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
	// insertColumns are the columns an insert of plain jobs sets, one
	// placeholder each in insertRow; workflowColumns are those a job of a
	// workflow sets too (see wideInsert).
	insertColumns = `kind, queue, priority, args, state, max_attempts, timeout_ns,
	enqueued_at, run_at, unique_key, unique_until`
	insertRow       = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?`
	workflowColumns = `, workflow, deps, deps_left, run_on_failure, finalized_at, errors, has_dependents`
	workflowRow     = `, ?, ?, ?, ?, ?, ?, ?`

	uniqueHolderSQL = `SELECT ` + jobColumns + ` FROM jobs WHERE unique_key = ?`
	releaseKeySQL   = `UPDATE jobs SET unique_key = NULL WHERE id = ?`
)

// Multi-row inserts: a run of jobs is inserted in chunks of
// bigChunk, then smallChunk, then single rows, each size a prepared
// statement: one statement for 100 rows costs a fraction of 100
// statements. (100 rows are at most 1,800 parameters, far below SQLite's
// limit of 32,766.)
const (
	bigChunk   = 100
	smallChunk = 10
)

// chunkSize is the largest chunk size not above n (n >= 1): the size of
// the next chunk of a run of n jobs.
func chunkSize(n int) int {
	switch {
	case n >= bigChunk:
		return bigChunk
	case n >= smallChunk:
		return smallChunk
	}
	return 1
}

// insertSQL is the statement inserting n rows, of workflow jobs if wide.
func insertSQL(n int, wide bool) string {
	cols, row := insertColumns, insertRow+`)`
	if wide {
		cols, row = insertColumns+workflowColumns, insertRow+workflowRow+`)`
	}
	return `INSERT INTO jobs (` + cols + `) VALUES ` + row + strings.Repeat(", "+row, n-1)
}

// wideInsert reports whether j needs the columns of workflows (or is
// depended on by a later job of its call). Plain jobs leave them to their
// defaults: seven more parameters per row cost a multi-row insert about a
// tenth of its time.
func wideInsert(j *store.Job, dependedOn bool) bool {
	return dependedOn || j.Workflow != "" || len(j.Deps) > 0 || j.RunOnFailure || len(j.Errors) > 0
}

// JobInsertMany inserts the jobs in one transaction; see store.Store.
// Listeners hear of them once it has committed.
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
			problem = badAfter(i, p.After)
			if problem == "" {
				continue
			}
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
	var err error
	if t.cache != nil {
		st, err = t.cache.tx(ctx, t.tx, query)
	} else if st, err = t.tx.PrepareContext(ctx, query); err != nil {
		err = fmt.Errorf("preparing %q: %w", firstLine(query), err)
	}
	if err != nil {
		return nil, err
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt, 4)
	}
	t.stmts[query] = st
	return st, nil
}

// insertJobs inserts params.Jobs in tx, in order. Runs of jobs without a
// unique key go in multi-row statements; a job with a unique key is
// looked up and inserted on its own, after the run before it, so IDs
// follow the order of params.Jobs. A job waiting for an entry of the run
// not inserted yet ends the run first (it needs the entry's ID).
func insertJobs(ctx context.Context, ts *txStmts, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	now := params.Now.UTC().Truncate(time.Microsecond)
	res := make([]store.JobInsertResult, len(params.Jobs))
	ins := &inserter{ts: ts, counts: counts{}, now: micros(now), dependedOn: dependedOn(params.Jobs)}
	for i, p := range params.Jobs {
		var deps *jobDeps
		if len(p.After) > 0 || len(p.AfterIDs) > 0 {
			if slices.ContainsFunc(p.After, func(k int) bool { return res[k].Job == nil }) {
				if err := ins.flush(ctx, res); err != nil {
					return nil, err
				}
			}
			var err error
			if deps, err = resolveDeps(ctx, ts, p, res); err != nil {
				return nil, fmt.Errorf("job %d (kind %q): %w", i, p.Kind, err)
			}
		}
		if p.UniqueKey == "" {
			if err := ins.queue(ctx, res, i, newJob(p, now, deps), deps); err != nil {
				return nil, err
			}
			continue
		}
		if err := ins.flush(ctx, res); err != nil {
			return nil, err
		}
		holder, err := takeUniqueKey(ctx, ts, p.UniqueKey, now)
		if err != nil {
			return nil, fmt.Errorf("job %d (unique key %q): %w", i, p.UniqueKey, err)
		}
		if holder != nil {
			res[i] = store.JobInsertResult{Job: holder, Duplicate: true}
			continue
		}
		if err := ins.queue(ctx, res, i, newJob(p, now, deps), deps); err != nil {
			return nil, err
		}
		if err := ins.flush(ctx, res); err != nil {
			return nil, err
		}
	}
	if err := ins.flush(ctx, res); err != nil {
		return nil, err
	}
	if err := ins.counts.flush(ctx, ts); err != nil {
		return nil, err
	}
	return res, nil
}

// inserter collects a run of new jobs and inserts them in chunks.
type inserter struct {
	ts     *txStmts
	counts counts
	now    int64 // enqueued_at
	idx    []int // index in params.Jobs of each pending job
	jobs   []*store.Job
	deps   []*jobDeps // of each pending job, nil for none
	wide   bool       // the pending jobs need the columns of workflows
	args   []any

	// dependedOn has the indexes of the jobs of the call that a later
	// one waits for (After): they are inserted with has_dependents set,
	// rather than flagged by an UPDATE once their waiting job is in.
	dependedOn map[int]bool
	edges      []depEdge // of the chunk being flushed
}

// queue adds job i to the run, after inserting the run if j needs
// other columns (see wideInsert).
func (in *inserter) queue(ctx context.Context, res []store.JobInsertResult, i int, j *store.Job, d *jobDeps) error {
	if wide := wideInsert(j, in.dependedOn[i]); wide != in.wide {
		if err := in.flush(ctx, res); err != nil {
			return err
		}
		in.wide = wide
	}
	in.idx = append(in.idx, i)
	in.jobs = append(in.jobs, j)
	in.deps = append(in.deps, d)
	return nil
}

// flush inserts the pending jobs and stores their results in res.
func (in *inserter) flush(ctx context.Context, res []store.JobInsertResult) error {
	for off := 0; off < len(in.jobs); {
		n := chunkSize(len(in.jobs) - off)
		chunk, idx := in.jobs[off:off+n], in.idx[off:off+n]
		st, err := in.ts.get(ctx, insertSQL(n, in.wide))
		if err != nil {
			return err
		}
		in.args = in.args[:0]
		for k, j := range chunk {
			if in.args, err = appendInsertArgs(in.args, j, in.now, in.wide, in.dependedOn[idx[k]]); err != nil {
				return fmt.Errorf("job %d (kind %q): %w", idx[k], j.Kind, err)
			}
		}
		r, err := st.ExecContext(ctx, in.args...)
		if err != nil {
			return fmt.Errorf("job %d (kind %q): %w", idx[0], chunk[0].Kind, err)
		}
		last, err := r.LastInsertId()
		if err != nil {
			return fmt.Errorf("job %d (kind %q): reading its ID: %w", idx[0], chunk[0].Kind, err)
		}
		// One INSERT statement holding the write lock gives its rows
		// consecutive IDs (AUTOINCREMENT: each is the largest yet plus
		// one), so the last ID gives them all.
		first := last - int64(n) + 1
		in.edges = in.edges[:0]
		for k, j := range chunk {
			j.ID = first + int64(k)
			res[idx[k]] = store.JobInsertResult{Job: j}
			in.counts.add(j.Queue, j.State, 1)
			if d := in.deps[off+k]; d != nil && j.State == store.StateWaiting {
				for _, dep := range d.waitFor {
					in.edges = append(in.edges, depEdge{dep: dep, job: j.ID, mark: d.mark[dep]})
				}
			}
		}
		if err := addEdges(ctx, in.ts, in.edges); err != nil {
			return fmt.Errorf("job %d (kind %q): %w", idx[0], chunk[0].Kind, err)
		}
		off += n
	}
	clear(in.deps)
	in.idx, in.jobs, in.deps = in.idx[:0], in.jobs[:0], in.deps[:0]
	return nil
}

// appendInsertArgs appends the values of insertColumns (and of
// workflowColumns if wide) for j, enqueued at now, to args.
func appendInsertArgs(args []any, j *store.Job, now int64, wide, dependedOn bool) ([]any, error) {
	args = append(args, j.Kind, j.Queue, j.Priority, string(j.Args), string(j.State),
		j.MaxAttempts, int64(j.Timeout), now, micros(j.RunAt), nullString(j.UniqueKey), nullMicros(j.UniqueUntil))
	if !wide {
		return args, nil
	}
	var deps, errs any
	if len(j.Deps) > 0 {
		b, err := json.Marshal(j.Deps)
		if err != nil {
			return nil, fmt.Errorf("encoding deps: %w", err)
		}
		deps = string(b)
	}
	if len(j.Errors) > 0 {
		b, err := json.Marshal(j.Errors)
		if err != nil {
			return nil, fmt.Errorf("encoding errors: %w", err)
		}
		errs = string(b)
	}
	return append(args, nullString(j.Workflow), deps, j.DepsLeft, j.RunOnFailure, nullMicros(j.FinalizedAt), errs, dependedOn), nil
}

// newJob is the row a new job gets (without its ID): scheduled if RunAt
// is after now, else available (a zero RunAt means now; a past RunAt is
// kept, so the job ranks by when it became due). With dependencies
// (deps not nil) it waits for those not finished, or is cancelled at
// once if one failed and RunOnFailure is false. now is UTC, truncated to
// the microsecond.
func newJob(p *store.JobInsertParams, now time.Time, deps *jobDeps) *store.Job {
	j := &store.Job{
		Kind:         p.Kind,
		Queue:        p.Queue,
		Priority:     p.Priority,
		Args:         p.Args,
		State:        store.StateAvailable,
		MaxAttempts:  p.MaxAttempts,
		Timeout:      p.Timeout,
		EnqueuedAt:   now,
		RunAt:        p.RunAt.UTC().Truncate(time.Microsecond),
		UniqueKey:    p.UniqueKey,
		Workflow:     p.Workflow,
		RunOnFailure: p.RunOnFailure,
	}
	if p.RunAt.IsZero() {
		j.RunAt = now
	} else if j.RunAt.After(now) {
		j.State = store.StateScheduled
	}
	if p.UniqueKey != "" && !p.UniqueUntil.IsZero() {
		j.UniqueUntil = p.UniqueUntil.UTC().Truncate(time.Microsecond)
	}
	if deps != nil {
		j.Deps = deps.ids
		j.DepsLeft = len(deps.waitFor)
		switch {
		case deps.failed != 0 && !p.RunOnFailure:
			j.State = store.StateCancelled
			j.FinalizedAt = now
			j.Errors = []store.AttemptError{depFailedError(deps.failed, deps.failedState, now)}
		case len(deps.waitFor) > 0:
			j.State = store.StateWaiting
		}
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
