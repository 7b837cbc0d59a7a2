package sqlite

import (
	"context"
	"fmt"

	"github.com/doubleboiler/boiler/store"
)

// adjustCountSQL adds a delta to one (queue, state) count.
const adjustCountSQL = `INSERT INTO queue_counts (queue, state, n) VALUES (?, ?, ?)
	ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n`

// countKey is one row of queue_counts.
type countKey struct {
	queue string
	state store.State
}

// counts accumulates what one transaction changes in queue_counts, so a
// batch of a thousand jobs costs one write per (queue, state) it touches.
// Every statement that inserts or deletes a job or changes its state adds
// its rows here, and the transaction flushes before it commits. The
// conformance tests check the counts against the jobs table after every
// behaviour, so a path that forgets fails there.
type counts map[countKey]int64

// add adds d jobs to (queue, state).
func (c counts) add(queue string, state store.State, d int64) {
	c[countKey{queue, state}] += d
}

// move records n jobs of queue moving from one state to another.
func (c counts) move(queue string, from, to store.State, n int64) {
	if from == to || n == 0 {
		return
	}
	c.add(queue, from, -n)
	c.add(queue, to, n)
}

// flush writes the accumulated deltas in ts's transaction and clears c.
func (c counts) flush(ctx context.Context, ts *txStmts) error {
	if len(c) == 0 {
		return nil
	}
	st, err := ts.get(ctx, adjustCountSQL)
	if err != nil {
		return err
	}
	for k, d := range c {
		if d != 0 {
			if _, err := st.ExecContext(ctx, k.queue, string(k.state), d); err != nil {
				return fmt.Errorf("counting %s jobs of queue %q: %w", k.state, k.queue, err)
			}
		}
		delete(c, k)
	}
	return nil
}
