package boiler

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// maxGroupCommitJobs bounds how many single-job enqueues share one store
// call.
const maxGroupCommitJobs = 1000

// groupCommitter gathers concurrent single-job enqueues into one
// store.JobInsertMany call, so that they share one transaction (group
// commit) instead of each paying a commit.
//
// It needs no goroutine of its own. The first caller of a round becomes
// the leader: it takes every waiting job (itself first, at most
// maxGroupCommitJobs), makes the store call and hands each waiter its
// result. Callers that arrive while a call is in flight wait; when the
// call ends, the first of them is promoted to lead the next round. An
// idle client therefore adds no delay: a lone caller goes at once.
type groupCommitter struct {
	store store.Store

	mu      sync.Mutex
	busy    bool        // a leader is running (or promoted to run) a round
	pending []*gcWaiter // jobs waiting for the next round, oldest first
}

// gcState is where a waiter stands.
type gcState int

const (
	gcWaiting gcState = iota // in pending
	gcLeading                // promoted: must take pending and run a round
	gcInBatch                // taken into a round in flight
	gcDone                   // res and err are set
)

// gcWaiter is one caller of groupCommitter.insert.
type gcWaiter struct {
	ctx  context.Context
	row  *store.JobInsertParams
	now  time.Time
	wake chan struct{} // signalled when state becomes gcLeading or gcDone

	// Guarded by groupCommitter.mu.
	state gcState
	res   store.JobInsertResult
	err   error
}

func newGroupCommitter(s store.Store) *groupCommitter {
	return &groupCommitter{store: s}
}

// insert writes row as part of the next round and returns its result, or
// the round's store error. If ctx ends while the job waits for a round,
// insert returns ctx.Err() at once and the job is not inserted; if it ends
// after the job's round left, insert returns ctx.Err() at once but the job
// may still be inserted, as with any store call cut short.
func (g *groupCommitter) insert(ctx context.Context, row *store.JobInsertParams, now time.Time) (store.JobInsertResult, error) {
	w := &gcWaiter{ctx: ctx, row: row, now: now, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, w)
	if !g.busy {
		// Nobody is running a round, so pending held only w.
		g.busy = true
		w.state = gcLeading
	}
	st := w.state
	g.mu.Unlock()

	for {
		if st == gcLeading {
			g.lead(w)
			// w was the first of its own round, so it is done now.
		} else {
			select {
			case <-w.wake:
			case <-ctx.Done():
				return g.abandon(w, ctx.Err())
			}
		}
		g.mu.Lock()
		st = w.state
		res, err := w.res, w.err
		g.mu.Unlock()
		if st == gcDone {
			return res, err
		}
	}
}

// abandon handles a waiter whose context ended: out of pending if it is
// still there, passing the lead on if it had been promoted. A waiter
// whose round already ended gets its result.
func (g *groupCommitter) abandon(w *gcWaiter, ctxErr error) (store.JobInsertResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch w.state {
	case gcWaiting:
		g.removeLocked(w)
	case gcLeading:
		g.removeLocked(w)
		g.promoteLocked()
	case gcDone:
		return w.res, w.err
	}
	return store.JobInsertResult{}, ctxErr
}

// removeLocked takes w out of pending.
func (g *groupCommitter) removeLocked(w *gcWaiter) {
	for i, p := range g.pending {
		if p == w {
			g.pending = append(g.pending[:i:i], g.pending[i+1:]...)
			return
		}
	}
}

// promoteLocked makes the oldest waiter the next round's leader, or marks
// the committer idle when nobody waits.
func (g *groupCommitter) promoteLocked() {
	if len(g.pending) == 0 {
		g.busy = false
		return
	}
	next := g.pending[0]
	next.state = gcLeading
	wakeUp(next.wake)
}

// lead runs one round: it takes the waiting jobs (leader first), inserts
// them in one store call, hands out the results and promotes the next
// leader.
func (g *groupCommitter) lead(leader *gcWaiter) {
	g.mu.Lock()
	n := min(len(g.pending), maxGroupCommitJobs)
	batch := make([]*gcWaiter, n)
	copy(batch, g.pending)
	g.pending = append([]*gcWaiter(nil), g.pending[n:]...)
	for _, w := range batch {
		w.state = gcInBatch
	}
	g.mu.Unlock()

	res, err := g.run(leader.ctx, batch)

	g.mu.Lock()
	for i, w := range batch {
		if err != nil {
			w.err = err
		} else {
			w.res = res[i]
		}
		w.state = gcDone
		wakeUp(w.wake)
	}
	g.promoteLocked()
	g.mu.Unlock()
}

// run makes the round's store call. Its context keeps the leader's values
// but is cancelled only once every caller in the batch has given up, so
// one caller's cancellation does not fail the others' jobs. Now is the
// latest of the callers' clocks, so no job meant to run now is
// scheduled.
func (g *groupCommitter) run(leaderCtx context.Context, batch []*gcWaiter) ([]store.JobInsertResult, error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(leaderCtx))
	defer cancel()
	var live atomic.Int64
	live.Store(int64(len(batch)))
	params := &store.JobInsertManyParams{Jobs: make([]*store.JobInsertParams, len(batch))}
	for i, w := range batch {
		params.Jobs[i] = w.row
		if w.now.After(params.Now) {
			params.Now = w.now
		}
		stop := context.AfterFunc(w.ctx, func() {
			if live.Add(-1) == 0 {
				cancel()
			}
		})
		defer stop()
	}
	res, err := g.store.JobInsertMany(ctx, params)
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("the store returned %d results for %d jobs", len(res), len(batch))
	}
	return res, err
}

// wakeUp wakes a waiter without blocking (wake has room for one).
func wakeUp(wake chan struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}
