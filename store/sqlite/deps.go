package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// Dependencies between jobs (see store.DepsPolicy).
//
// A waiting job keeps its dependencies in its deps column (for display)
// and, for each one not finished yet, a row of job_deps (dep_id, job_id),
// keyed by the dependency. A job named by such a row gets has_dependents
// = 1. The statements that finalize jobs return has_dependents with the
// rows they change anyway, and only the jobs that have it look job_deps
// up: a job nobody waits for costs one more returned column, nothing
// else. The rows of a dependency are deleted when it ends, so each
// dependency is counted once even if it is retried and ends again.
const (
	// addEdgesSQL records ?1, a JSON array of [dep_id, job_id] pairs;
	// addJobEdgesSQL that job ?2 waits for each job of ?1, a JSON array of
	// IDs (a chord's callback: no pair to take apart per row).
	addEdgesSQL    = `INSERT INTO job_deps (dep_id, job_id) SELECT value->>0, value->>1 FROM json_each(?1)`
	addJobEdgesSQL = `INSERT INTO job_deps (dep_id, job_id) SELECT value, ?2 FROM json_each(?1)`
	// markDependedOnSQL flags the jobs ?1 (a JSON array of IDs): the
	// existing jobs a new job waits for. (The jobs of the same insert
	// call are inserted flagged.)
	markDependedOnSQL = `UPDATE jobs SET has_dependents = 1
	WHERE id IN (SELECT value FROM json_each(?1)) AND has_dependents = 0`

	// takeEdgesSQL deletes and returns the rows of the jobs ?1 (a JSON
	// array of IDs) that just ended.
	takeEdgesSQL = `DELETE FROM job_deps WHERE dep_id IN (SELECT value FROM json_each(?1))
	RETURNING dep_id, job_id`
	// waitersSQL reads the jobs ?1 (a JSON array of IDs) still waiting.
	waitersSQL = `SELECT id, queue, deps_left, run_on_failure, run_at, has_dependents FROM jobs
	WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'waiting'`
	// updateWaiterSQL applies the outcome of finished dependencies to one
	// waiting job; ?5, when not NULL, is an attempt error to append.
	updateWaiterSQL = `UPDATE jobs SET state = ?2, deps_left = ?3, run_at = ?4,
		finalized_at = CASE WHEN ?5 IS NULL THEN finalized_at ELSE ?6 END,
		errors = CASE WHEN ?5 IS NULL THEN errors ELSE json_insert(coalesce(errors, '[]'), '$[#]', json(?5)) END
	WHERE id = ?1 AND state = 'waiting'`
)

// depsQueries are the write statements of this file.
var depsQueries = []string{addEdgesSQL, addJobEdgesSQL, markDependedOnSQL, takeEdgesSQL, waitersSQL, updateWaiterSQL}

// stateDeleted stands, in an ended dependency, for a job deleted before it
// was finalized: it counts as cancelled, and the waiting job's error says
// what happened.
const stateDeleted store.State = "deleted"

// jobDeps are a new job's dependencies, resolved.
type jobDeps struct {
	ids         []int64        // every dependency, in the order given, each once
	waitFor     []int64        // those not finalized yet
	mark        map[int64]bool // those of waitFor not flagged has_dependents at their insert
	failed      int64          // the first finalized one that did not complete, 0 if none
	failedState store.State    // its state
}

// depEdge is one row of job_deps; mark says that dep must be flagged
// has_dependents.
type depEdge struct {
	dep, job int64
	mark     bool
}

// dependedOn returns the indexes of the jobs that a later job of the same
// call waits for (nil when none does).
func dependedOn(ps []*store.JobInsertParams) map[int]bool {
	var m map[int]bool
	for _, p := range ps {
		for _, k := range p.After {
			if m == nil {
				m = make(map[int]bool)
			}
			m[k] = true
		}
	}
	return m
}

// ended is a job that reached a final state (or was deleted while not
// finalized) in the current transaction, and that jobs may wait for.
type ended struct {
	id    int64
	state store.State // completed, discarded, cancelled or stateDeleted
	at    time.Time   // when: the Now of the call that ended it
}

// badAfter describes what is wrong with the After indexes of job i, or
// returns "".
func badAfter(i int, after []int) string {
	for _, k := range after {
		if k < 0 || k >= i {
			return fmt.Sprintf("has After index %d, want an earlier job of the call (0 to %d)", k, i-1)
		}
	}
	return ""
}

// resolveDeps finds the jobs p waits for: the results of After (res holds
// them, inserted or duplicates) and the existing jobs of AfterIDs (an ID
// that does not exist is an error naming it).
func resolveDeps(ctx context.Context, ts *txStmts, p *store.JobInsertParams, res []store.JobInsertResult) (*jobDeps, error) {
	d := &jobDeps{ids: make([]int64, 0, len(p.After)+len(p.AfterIDs))}
	seen := make(map[int64]bool, len(p.After)+len(p.AfterIDs))
	add := func(id int64, state store.State, mark bool) {
		if seen[id] {
			return
		}
		seen[id] = true
		d.ids = append(d.ids, id)
		switch {
		case !state.Finalized():
			d.waitFor = append(d.waitFor, id)
			if mark {
				if d.mark == nil {
					d.mark = make(map[int64]bool)
				}
				d.mark[id] = true
			}
		case state != store.StateCompleted && d.failed == 0:
			d.failed, d.failedState = id, state
		}
	}
	for _, k := range p.After {
		// A job inserted by this call was inserted flagged; the existing
		// job holding a unique key (a duplicate) was not.
		add(res[k].Job.ID, res[k].Job.State, res[k].Duplicate)
	}
	for _, id := range p.AfterIDs {
		if seen[id] {
			continue
		}
		state, _, hasDependents, err := jobState(ctx, ts, id)
		if err != nil {
			return nil, fmt.Errorf("AfterIDs: %w", err)
		}
		add(id, state, !hasDependents)
	}
	return d, nil
}

// depFailedError is the attempt error of a job cancelled because its
// dependency dep ended in state without completing.
func depFailedError(dep int64, state store.State, now time.Time) store.AttemptError {
	return store.AttemptError{
		Attempt: 0,
		At:      now,
		Error:   fmt.Sprintf("dependency job %d was %s", dep, state),
	}
}

// addEdges records that each edge's job waits for its dep, and flags the
// deps the edges mark. The edges of one job are contiguous.
func addEdges(ctx context.Context, ts *txStmts, edges []depEdge) error {
	if len(edges) == 0 {
		return nil
	}
	var marks []int64
	for _, e := range edges {
		if e.mark {
			marks = append(marks, e.dep) // repeats are harmless
		}
	}
	var err error
	if job := edges[0].job; edges[len(edges)-1].job == job {
		deps := make([]int64, len(edges))
		for i, e := range edges {
			deps[i] = e.dep
		}
		err = execJSON(ctx, ts, addJobEdgesSQL, deps, job)
	} else {
		pairs := make([][2]int64, len(edges))
		for i, e := range edges {
			pairs[i] = [2]int64{e.dep, e.job}
		}
		err = execJSON(ctx, ts, addEdgesSQL, pairs)
	}
	if err != nil {
		return fmt.Errorf("recording dependencies: %w", err)
	}
	if len(marks) > 0 {
		if err := execJSON(ctx, ts, markDependedOnSQL, marks); err != nil {
			return fmt.Errorf("flagging dependencies: %w", err)
		}
	}
	return nil
}

// execJSON runs query with v, encoded as JSON, as its first argument,
// then more.
func execJSON(ctx context.Context, ts *txStmts, query string, v any, more ...any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %T: %w", v, err)
	}
	st, err := ts.get(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, append([]any{string(b)}, more...)...)
	return err
}

// waiter is a waiting job read by finishDeps.
type waiter struct {
	id            int64
	queue         string
	left          int
	runOnFailure  bool
	runAt         int64
	hasDependents bool

	state   store.State // after the ended dependencies are applied
	err     *store.AttemptError
	at      time.Time // when the last of them ended
	changed bool
}

// finishDeps applies the end of the jobs done (in the order the caller
// ended them, as if one by one) to the jobs waiting for them, each at the
// time its dependency ended: each
// is decremented once per ended dependency and becomes available (or
// scheduled) at zero, or is cancelled by a dependency that failed, and a
// cancelled one in turn ends for the jobs waiting for it. The state
// changes go to cs. It returns the queues of the jobs that became
// available or scheduled, for the listeners.
func finishDeps(ctx context.Context, ts *txStmts, cs counts, done []ended) ([]string, error) {
	var woken []string
	for len(done) > 0 {
		byDep, err := takeEdges(ctx, ts, done)
		if err != nil {
			return nil, err
		}
		if len(byDep) == 0 {
			break
		}
		ws, err := readWaiters(ctx, ts, byDep)
		if err != nil {
			return nil, err
		}
		var order []*waiter // in the order they were first changed
		for _, e := range done {
			for _, id := range byDep[e.id] {
				w := ws[id]
				if w == nil || w.state != store.StateWaiting {
					continue // gone, or ended by an earlier dependency
				}
				if !w.changed {
					w.changed = true
					order = append(order, w)
				}
				at := e.at.UTC().Truncate(time.Microsecond)
				w.at = at
				if e.state != store.StateCompleted && !w.runOnFailure {
					w.state = store.StateCancelled
					ae := depFailedError(e.id, e.state, at)
					w.err = &ae
					continue
				}
				if w.left--; w.left <= 0 {
					w.left = 0
					w.state = store.StateAvailable
					if w.runAt > micros(at) {
						w.state = store.StateScheduled
					} else {
						w.runAt = micros(at)
					}
				}
			}
		}
		var next []ended
		for _, w := range order {
			if err := updateWaiter(ctx, ts, w); err != nil {
				return nil, err
			}
			cs.move(w.queue, store.StateWaiting, w.state, 1)
			switch {
			case w.state == store.StateCancelled && w.hasDependents:
				next = append(next, ended{id: w.id, state: store.StateCancelled, at: w.at})
			case w.state == store.StateAvailable || w.state == store.StateScheduled:
				if !slices.Contains(woken, w.queue) {
					woken = append(woken, w.queue)
				}
			}
		}
		done = next
	}
	return woken, nil
}

// takeEdges deletes the job_deps rows of the ended jobs and returns them
// as dependency -> waiting jobs (sorted by ID).
func takeEdges(ctx context.Context, ts *txStmts, done []ended) (map[int64][]int64, error) {
	ids := make([]int64, len(done))
	for i, e := range done {
		ids[i] = e.id
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("encoding job IDs: %w", err)
	}
	byDep := map[int64][]int64{}
	err = queryEach(ctx, ts, takeEdgesSQL, []any{string(b)}, func(rows *sql.Rows) error {
		var dep, job int64
		if err := rows.Scan(&dep, &job); err != nil {
			return err
		}
		byDep[dep] = append(byDep[dep], job)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the jobs waiting for jobs %v: %w", ids, err)
	}
	for _, jobs := range byDep {
		slices.Sort(jobs)
	}
	return byDep, nil
}

// readWaiters reads the jobs of byDep that are still waiting, by ID.
func readWaiters(ctx context.Context, ts *txStmts, byDep map[int64][]int64) (map[int64]*waiter, error) {
	var ids []int64
	seen := map[int64]bool{}
	for _, jobs := range byDep {
		for _, id := range jobs {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("encoding job IDs: %w", err)
	}
	ws := make(map[int64]*waiter, len(ids))
	err = queryEach(ctx, ts, waitersSQL, []any{string(b)}, func(rows *sql.Rows) error {
		w := &waiter{state: store.StateWaiting}
		if err := rows.Scan(&w.id, &w.queue, &w.left, &w.runOnFailure, &w.runAt, &w.hasDependents); err != nil {
			return err
		}
		ws[w.id] = w
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading waiting jobs: %w", err)
	}
	return ws, nil
}

// updateWaiter writes w's new state.
func updateWaiter(ctx context.Context, ts *txStmts, w *waiter) error {
	st, err := ts.get(ctx, updateWaiterSQL)
	if err != nil {
		return err
	}
	var errJSON any
	if w.err != nil {
		s, err := attemptErrorJSON(w.err)
		if err != nil {
			return err
		}
		errJSON = s
	}
	if _, err := st.ExecContext(ctx, w.id, string(w.state), w.left, w.runAt, errJSON, micros(w.at)); err != nil {
		return fmt.Errorf("updating waiting job %d: %w", w.id, err)
	}
	return nil
}
