package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/doubleboiler/boiler/store"
)

// insertSQL inserts one row per element of its array parameters, in
// order, so identity values follow the params' order. {conflict} is empty,
// or onConflictSkip for jobs with unique keys. {wf} and {wfcols} add the
// workflow columns ($12 and $13) when some job has them (see
// insertColumns.slice); most inserts spare the two arrays.
const insertSQL = `
INSERT INTO {schema}.jobs AS j (kind, queue, priority, args, state, max_attempts, timeout_ns,
	enqueued_at, run_at, unique_key, unique_holder, unique_until{wfcols})
SELECT p.kind, p.queue, p.priority, p.args::json, p.state, p.max_attempts, p.timeout_ns,
	$1, p.run_at, p.unique_key, p.unique_key, p.unique_until{wfvals}
FROM unnest($2::text[], $3::text[], $4::int4[], $5::text[], $6::text[], $7::int4[], $8::int8[],
	$9::timestamptz[], $10::text[], $11::timestamptz[]{wfargs})
	AS p(kind, queue, priority, args, state, max_attempts, timeout_ns, run_at, unique_key, unique_until{wfcols})
{conflict}
RETURNING {columns}`

// insertWorkflowSQL fills insertSQL's workflow placeholders: with is true
// for the statement that sets the workflow columns.
func insertWorkflowSQL(tmpl string, with bool) string {
	r := strings.NewReplacer("{wfcols}", "", "{wfvals}", "", "{wfargs}", "")
	if with {
		r = strings.NewReplacer("{wfcols}", ", workflow, run_on_failure", "{wfvals}", ", p.workflow, p.run_on_failure",
			"{wfargs}", ", $12::text[], $13::bool[]")
	}
	return r.Replace(tmpl)
}

// onConflictSkip leaves out a job whose key is held: the caller then looks
// at the holder (see resolveUnique).
const onConflictSkip = `ON CONFLICT (unique_holder) WHERE unique_holder IS NOT NULL DO NOTHING`

// uniqueHolderSQL reads the job holding a unique key.
const uniqueHolderSQL = `SELECT {columns} FROM {schema}.jobs j WHERE unique_holder = $1`

// releaseHolderSQL takes a key from a stale holder (its window passed, or,
// without a window, it is finalized), re-checking that under the row lock.
const releaseHolderSQL = `
UPDATE {schema}.jobs SET unique_holder = NULL
WHERE id = $1 AND unique_holder IS NOT NULL
	AND CASE WHEN unique_until IS NOT NULL THEN unique_until <= $2
		ELSE state IN ('completed', 'discarded', 'cancelled') END`

// maxUniqueRounds bounds resolveUnique's loop, which only repeats when
// another transaction takes or releases the same key at the same moment.
const maxUniqueRounds = 10

// JobInsertMany inserts jobs in one transaction. See store.Store.
func (s *Store) JobInsertMany(ctx context.Context, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	cols, err := newInsertColumns(params)
	if err != nil {
		return nil, err
	}
	if len(params.Jobs) == 0 {
		return []store.JobInsertResult{}, nil
	}
	var results []store.JobInsertResult
	err = s.retry(ctx, func(ctx context.Context) error {
		if !cols.unique && !cols.deps {
			// One statement is one transaction: no BEGIN/COMMIT round trips.
			results, err = s.insert(ctx, s.pool, params, cols)
			return err
		}
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			results, err = s.insert(ctx, tx, params, cols)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("inserting %d jobs: %w", len(params.Jobs), err)
	}
	return results, nil
}

// JobInsertManyTx inserts jobs like JobInsertMany, inside the caller's
// transaction: the jobs exist if and only if tx commits, and workers are
// notified at the commit. Use it to enqueue a job about a row in the same
// transaction that writes the row.
func (s *Store) JobInsertManyTx(ctx context.Context, tx pgx.Tx, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	cols, err := newInsertColumns(params)
	if err != nil {
		return nil, err
	}
	if len(params.Jobs) == 0 {
		return []store.JobInsertResult{}, nil
	}
	var results []store.JobInsertResult
	if cols.deps {
		// A dependency that does not exist is found after the rows are
		// inserted: a savepoint takes them back, so the caller's
		// transaction stays usable and holds none of them.
		err = pgx.BeginFunc(ctx, tx, func(tx pgx.Tx) error {
			results, err = s.insert(ctx, tx, params, cols)
			return err
		})
	} else {
		results, err = s.insert(ctx, tx, params, cols)
	}
	if err != nil {
		return nil, fmt.Errorf("inserting %d jobs: %w", len(params.Jobs), err)
	}
	return results, nil
}

// insertColumns are the params as the insert statement's arrays.
type insertColumns struct {
	kinds, queues, args, states []string
	priorities, maxAttempts     []int32
	timeouts                    []int64
	runAts, uniqueUntils        []pgtype.Timestamptz
	uniqueKeys, workflows       []pgtype.Text
	runOnFailure                []bool
	unique                      bool // some job has a unique key
	deps                        bool // some job has dependencies
	workflow                    bool // some job has a Workflow or RunOnFailure
}

// slice returns the insert statement's arguments for the jobs lo to hi-1:
// with the workflow columns if some job has them (the statement from
// statements.insertStmt).
func (c *insertColumns) slice(now time.Time, lo, hi int) []any {
	args := []any{now, c.kinds[lo:hi], c.queues[lo:hi], c.priorities[lo:hi], c.args[lo:hi], c.states[lo:hi],
		c.maxAttempts[lo:hi], c.timeouts[lo:hi], c.runAts[lo:hi], c.uniqueKeys[lo:hi], c.uniqueUntils[lo:hi]}
	if c.workflow {
		args = append(args, c.workflows[lo:hi], c.runOnFailure[lo:hi])
	}
	return args
}

// newInsertColumns checks params and lays them out as columns.
func newInsertColumns(params *store.JobInsertManyParams) (*insertColumns, error) {
	if params == nil {
		return nil, errors.New("inserting jobs: nil params")
	}
	if params.Now.IsZero() {
		return nil, errors.New("inserting jobs: Now is zero")
	}
	n := len(params.Jobs)
	c := &insertColumns{
		kinds: make([]string, n), queues: make([]string, n), args: make([]string, n), states: make([]string, n),
		priorities: make([]int32, n), maxAttempts: make([]int32, n), timeouts: make([]int64, n),
		runAts: make([]pgtype.Timestamptz, n), uniqueUntils: make([]pgtype.Timestamptz, n), uniqueKeys: make([]pgtype.Text, n),
		workflows: make([]pgtype.Text, n), runOnFailure: make([]bool, n),
	}
	for i, p := range params.Jobs {
		switch {
		case p == nil:
			return nil, fmt.Errorf("inserting jobs: Jobs[%d] is nil", i)
		case p.Kind == "":
			return nil, fmt.Errorf("inserting jobs: Jobs[%d].Kind is empty", i)
		case p.Queue == "":
			return nil, fmt.Errorf("inserting jobs: Jobs[%d].Queue is empty", i)
		case p.MaxAttempts < 1:
			return nil, fmt.Errorf("inserting jobs: Jobs[%d].MaxAttempts is %d, must be at least 1", i, p.MaxAttempts)
		case len(p.Args) == 0:
			return nil, fmt.Errorf("inserting jobs: Jobs[%d].Args is empty, must be JSON", i)
		}
		for k, a := range p.After {
			if a < 0 || a >= i {
				return nil, fmt.Errorf("inserting jobs: Jobs[%d].After[%d] is %d, must be the index of an earlier entry", i, k, a)
			}
		}
		state, runAt := initialState(p.RunAt, params.Now)
		if len(p.After) > 0 || len(p.AfterIDs) > 0 {
			// Waiting until resolveDeps counts the dependencies, in the
			// same transaction.
			state = store.StateWaiting
			c.deps = true
		}
		c.kinds[i] = p.Kind
		c.queues[i] = p.Queue
		c.args[i] = string(p.Args)
		c.states[i] = string(state)
		c.priorities[i] = int32(p.Priority)
		c.maxAttempts[i] = int32(p.MaxAttempts)
		c.timeouts[i] = int64(p.Timeout)
		c.runAts[i] = toTimestamptz(runAt)
		c.uniqueKeys[i] = toText(p.UniqueKey)
		c.uniqueUntils[i] = toTimestamptz(p.UniqueUntil)
		c.workflows[i] = toText(p.Workflow)
		c.runOnFailure[i] = p.RunOnFailure
		c.unique = c.unique || p.UniqueKey != ""
		c.workflow = c.workflow || p.Workflow != "" || p.RunOnFailure
	}
	return c, nil
}

// initialState is a new job's state and RunAt: scheduled at runAt when
// that is after now, else available at now.
func initialState(runAt, now time.Time) (store.State, time.Time) {
	if runAt.After(now) {
		return store.StateScheduled, runAt
	}
	return store.StateAvailable, now
}

// insert inserts the jobs on db, resolves the holders of keys that were
// held, then the dependencies. Jobs with unique keys or dependencies need
// db to be a transaction, so that the whole call stays atomic.
func (s *Store) insert(ctx context.Context, db dbtx, params *store.JobInsertManyParams, c *insertColumns) ([]store.JobInsertResult, error) {
	results, err := s.insertRows(ctx, db, params, c)
	if err != nil || !c.deps {
		return results, err
	}
	if err := s.resolveDeps(ctx, db, params, results); err != nil {
		return nil, err
	}
	return results, nil
}

// insertRows runs the insert statement on db and, for jobs whose key was
// held, resolves the holder.
func (s *Store) insertRows(ctx context.Context, db dbtx, params *store.JobInsertManyParams, c *insertColumns) ([]store.JobInsertResult, error) {
	rows, err := db.Query(ctx, s.stmt.insertStmt(c.unique, c.workflow), c.slice(params.Now, 0, len(params.Jobs))...)
	if err != nil {
		return nil, err
	}
	inserted, err := scanJobs(rows)
	if err != nil {
		return nil, err
	}
	// Rows come back in no promised order; identities were drawn in the
	// params' order, so sorting by ID restores it.
	slices.SortFunc(inserted, func(a, b *store.Job) int { return cmp.Compare(a.ID, b.ID) })
	results := make([]store.JobInsertResult, len(params.Jobs))
	if !c.unique {
		if len(inserted) != len(results) {
			return nil, fmt.Errorf("inserted %d rows for %d jobs", len(inserted), len(results))
		}
		for i, j := range inserted {
			results[i].Job = j
		}
		return results, nil
	}

	// The inserted rows are the params' jobs without a key, and the first
	// job of each key that was free, in the params' order.
	byKey := make(map[string]*store.Job)
	var plain []*store.Job
	for _, j := range inserted {
		if j.UniqueKey == "" {
			plain = append(plain, j)
		} else {
			byKey[j.UniqueKey] = j
		}
	}
	var held []int // params whose key was taken: resolved in order below
	for i, p := range params.Jobs {
		switch {
		case p.UniqueKey == "":
			if len(plain) == 0 {
				return nil, errors.New("fewer rows inserted than jobs without a unique key")
			}
			results[i].Job, plain = plain[0], plain[1:]
		case byKey[p.UniqueKey] != nil:
			results[i].Job = byKey[p.UniqueKey]
			delete(byKey, p.UniqueKey)
		default:
			held = append(held, i)
		}
	}
	for _, i := range held {
		r, err := s.resolveUnique(ctx, db, params, c, i)
		if err != nil {
			return nil, err
		}
		results[i] = r
	}
	return results, nil
}

// resolveUnique inserts job i, whose key another job held when the batch
// was inserted: if that holder (or a newer one) still holds the key, the
// result is the holder, a duplicate; if the holder is stale, it loses the
// key and job i is inserted.
func (s *Store) resolveUnique(ctx context.Context, db dbtx, params *store.JobInsertManyParams, c *insertColumns, i int) (store.JobInsertResult, error) {
	key := params.Jobs[i].UniqueKey
	for range maxUniqueRounds {
		holder, err := scanJob(db.QueryRow(ctx, s.stmt.uniqueHolder, key))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Released meanwhile: try the insert.
		case err != nil:
			return store.JobInsertResult{}, fmt.Errorf("reading the holder of unique key %q: %w", key, err)
		case holdsKey(holder, params.Now):
			return store.JobInsertResult{Job: holder, Duplicate: true}, nil
		default:
			if _, err := db.Exec(ctx, s.stmt.releaseHolder, holder.ID, params.Now); err != nil {
				return store.JobInsertResult{}, fmt.Errorf("releasing unique key %q from job %d: %w", key, holder.ID, err)
			}
		}
		rows, err := db.Query(ctx, s.stmt.insertStmt(true, c.workflow), c.slice(params.Now, i, i+1)...)
		if err != nil {
			return store.JobInsertResult{}, err
		}
		jobs, err := scanJobs(rows)
		if err != nil {
			return store.JobInsertResult{}, err
		}
		if len(jobs) == 1 {
			return store.JobInsertResult{Job: jobs[0]}, nil
		}
		// Another transaction took the key first: look at it again.
	}
	return store.JobInsertResult{}, fmt.Errorf("unique key %q: still contended after %d rounds", key, maxUniqueRounds)
}

// holdsKey reports whether j still holds its unique key at now: until its
// UniqueUntil when set, whatever its state, else until it is finalized.
func holdsKey(j *store.Job, now time.Time) bool {
	if !j.UniqueUntil.IsZero() {
		return j.UniqueUntil.After(now)
	}
	return !j.State.Finalized()
}
