package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/doubleboiler/boiler/store"
)

// How jobs wait for other jobs (store.DepsPolicy), in SQL:
//
//   - JobInsertMany inserts a job with dependencies as waiting, then, in
//     the same transaction, locks its dependencies' rows (marking them
//     has_dependents), counts those not finalized into deps_left, and
//     adds one job_deps row per dependency still running or pending
//     (resolveDeps).
//   - Every statement that ends jobs returns the ended ones that have
//     dependents, and its transaction then calls finish_deps (migration
//     002), which deletes their job_deps rows and decrements, releases or
//     cancels the waiting jobs. A job nobody waits for (has_dependents
//     false, nearly every job) costs nothing more than before.
//
// The dependency's row lock orders an insert and an ending of the same
// dependency: whichever comes second waits for the first to commit, then
// sees what it did.

// lockDepsSQL locks the dependencies of new waiting jobs (in ID order, so
// two inserts sharing dependencies do not deadlock), marks them as having
// dependents, and returns their states as they are once locked.
const lockDepsSQL = `
WITH locked AS (
	SELECT id, state, has_dependents FROM {schema}.jobs
	WHERE id = ANY($1::int8[])
	ORDER BY id
	FOR NO KEY UPDATE
), marked AS (
	UPDATE {schema}.jobs AS j SET has_dependents = true
	FROM locked WHERE j.id = locked.id AND NOT locked.has_dependents
)
SELECT id, state FROM locked`

// setWaitingSQL gives new waiting jobs their dependencies and the state
// resolveDeps decided: still waiting, released, or cancelled.
const setWaitingSQL = `
UPDATE {schema}.jobs AS j SET
	state = p.state,
	deps = p.deps::int8[],
	deps_left = p.deps_left,
	run_at = p.run_at,
	finalized_at = p.finalized_at,
	errors = CASE WHEN p.error IS NULL THEN j.errors ELSE j.errors || jsonb_build_array(p.error::jsonb) END
FROM unnest($1::int8[], $2::text[], $3::text[], $4::int4[], $5::timestamptz[], $6::timestamptz[], $7::text[])
	AS p(id, state, deps, deps_left, run_at, finalized_at, error)
WHERE j.id = p.id
RETURNING {columns}`

// addDepsSQL records which waiting job waits for which dependency.
const addDepsSQL = `
INSERT INTO {schema}.job_deps (dep_id, job_id)
SELECT * FROM unnest($1::int8[], $2::int8[])
ON CONFLICT DO NOTHING`

// notifySQL wakes the listeners of queues whose jobs became available
// other than by an insert (the insert trigger covers inserts).
const notifySQL = `SELECT pg_notify($1, q) FROM unnest($2::text[]) AS q`

// finishDepsSQL tells the jobs waiting for ended jobs; see finish_deps.
const finishDepsSQL = `SELECT {schema}.finish_deps($1::int8[], $2::text[], $3::timestamptz[])`

// resolveDeps finishes inserting the waiting jobs of params (inserted
// waiting, with results as JobInsertMany returns them, in db's
// transaction): it resolves After to IDs, checks that every dependency
// exists, counts those not finalized yet, releases or cancels the jobs
// whose dependencies already ended, and records the others in job_deps.
// results is updated with the jobs as they end up.
func (s *Store) resolveDeps(ctx context.Context, db dbtx, params *store.JobInsertManyParams, results []store.JobInsertResult) error {
	type waiter struct {
		i    int // index in params.Jobs
		deps []int64
	}
	var (
		waiters []waiter
		all     []int64
	)
	for i, p := range params.Jobs {
		if len(p.After) == 0 && len(p.AfterIDs) == 0 || results[i].Duplicate {
			continue // no dependencies, or not inserted: the holder of its key is returned as it is
		}
		deps := make([]int64, 0, len(p.After)+len(p.AfterIDs))
		add := func(id int64) {
			if !slices.Contains(deps, id) {
				deps = append(deps, id)
			}
		}
		for _, a := range p.After {
			add(results[a].Job.ID)
		}
		for _, id := range p.AfterIDs {
			add(id)
		}
		waiters = append(waiters, waiter{i: i, deps: deps})
		all = append(all, deps...)
	}
	if len(waiters) == 0 {
		return nil
	}
	slices.Sort(all)
	all = slices.Compact(all)

	states := make(map[int64]store.State, len(all))
	rows, err := db.Query(ctx, s.stmt.lockDeps, all)
	if err != nil {
		return fmt.Errorf("locking dependencies: %w", err)
	}
	for rows.Next() {
		var (
			id    int64
			state string
		)
		if err := rows.Scan(&id, &state); err != nil {
			rows.Close()
			return fmt.Errorf("locking dependencies: %w", err)
		}
		states[id] = store.State(state)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("locking dependencies: %w", err)
	}
	for _, w := range waiters {
		for _, id := range w.deps {
			if _, ok := states[id]; !ok {
				return missingDep(params.Jobs[w.i], w.i, id, results)
			}
		}
	}

	// Decide each waiting job's state in params' order: a job may wait for
	// an earlier entry that was itself just released or cancelled.
	now := params.Now
	n := len(waiters)
	var (
		ids        = make([]int64, n)
		newStates  = make([]string, n)
		depsText   = make([]string, n)
		depsLeft   = make([]int32, n)
		runAts     = make([]time.Time, n)
		finalized  = make([]pgtype.Timestamptz, n)
		errs       = make([]pgtype.Text, n)
		edgeDeps   []int64
		edgeJobs   []int64
		wakeQueues []string
	)
	for k, w := range waiters {
		job := results[w.i].Job
		p := params.Jobs[w.i]
		left := 0
		var failed int64
		for _, id := range w.deps {
			switch st := states[id]; {
			case !st.Finalized():
				left++
			case st != store.StateCompleted && !p.RunOnFailure && failed == 0:
				failed = id
			}
		}
		ids[k], depsText[k], depsLeft[k], runAts[k] = job.ID, int64sLiteral(w.deps), int32(left), job.RunAt
		state := store.StateWaiting
		switch {
		case failed != 0:
			state = store.StateCancelled
			finalized[k] = toTimestamptz(now)
			e, err := attemptErrorJSON(&store.AttemptError{At: now, Error: depFailedMessage(failed, states[failed])})
			if err != nil {
				return err
			}
			errs[k] = e
		case left == 0:
			state = store.StateAvailable
			if job.RunAt.After(now) {
				state = store.StateScheduled
			} else {
				runAts[k] = now
				if !slices.Contains(wakeQueues, job.Queue) {
					wakeQueues = append(wakeQueues, job.Queue)
				}
			}
		default:
			for _, id := range w.deps {
				if !states[id].Finalized() {
					edgeDeps = append(edgeDeps, id)
					edgeJobs = append(edgeJobs, job.ID)
				}
			}
		}
		newStates[k] = string(state)
		states[job.ID] = state
	}

	batch := &pgx.Batch{}
	batch.Queue(s.stmt.setWaiting, ids, newStates, depsText, depsLeft, runAts, finalized, errs)
	if len(edgeDeps) > 0 {
		batch.Queue(s.stmt.addDeps, edgeDeps, edgeJobs)
	}
	if len(wakeQueues) > 0 {
		batch.Queue(s.stmt.notify, s.channel, wakeQueues)
	}
	br := db.SendBatch(ctx, batch)
	defer br.Close()
	rows, err = br.Query()
	if err != nil {
		return fmt.Errorf("setting the state of waiting jobs: %w", err)
	}
	updated, err := scanJobs(rows)
	if err != nil {
		return fmt.Errorf("setting the state of waiting jobs: %w", err)
	}
	byID := make(map[int64]*store.Job, len(updated))
	for _, j := range updated {
		byID[j.ID] = j
	}
	for _, w := range waiters {
		j := byID[results[w.i].Job.ID]
		if j == nil {
			return fmt.Errorf("waiting job %d vanished while inserting it", results[w.i].Job.ID)
		}
		results[w.i].Job = j
	}
	if len(edgeDeps) > 0 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("recording dependencies: %w", err)
		}
	}
	if len(wakeQueues) > 0 {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("notifying queues: %w", err)
		}
	}
	return br.Close()
}

// missingDep is the error for dependency id of job i (p), which does not
// exist.
func missingDep(p *store.JobInsertParams, i int, id int64, results []store.JobInsertResult) error {
	for k, a := range p.After {
		if results[a].Job.ID == id {
			return fmt.Errorf("Jobs[%d].After[%d]: job %d (entry %d): %w", i, k, id, a, store.ErrNotFound)
		}
	}
	return fmt.Errorf("Jobs[%d].AfterIDs: job %d: %w", i, id, store.ErrNotFound)
}

// depFailedMessage is the error recorded on a waiting job cancelled
// because its dependency id ended in state (or was deleted, which counts
// as cancelled). finish_deps (migration 002) writes the same words.
func depFailedMessage(id int64, state store.State) string {
	return "dependency job " + strconv.FormatInt(id, 10) + " was " + string(state)
}

// int64sLiteral is ids as a PostgreSQL array literal.
func int64sLiteral(ids []int64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte('}')
	return b.String()
}

// ended collects the jobs a statement ended that have dependents, for
// finish_deps.
type ended struct {
	ids    []int64
	states []string
	nows   []time.Time
}

// add records job id, which ended in state at now.
func (e *ended) add(id int64, state store.State, now time.Time) {
	e.ids = append(e.ids, id)
	e.states = append(e.states, string(state))
	e.nows = append(e.nows, now)
}

// finish runs finish_deps in tx for the jobs recorded, if any.
func (e *ended) finish(ctx context.Context, s *Store, tx dbtx) error {
	if len(e.ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, s.stmt.finishDeps, e.ids, e.states, e.nows); err != nil {
		return fmt.Errorf("updating the jobs waiting for jobs %v: %w", e.ids, err)
	}
	return nil
}
