package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// WAL checkpoints, mostly off the write path.
//
// In WAL mode a commit appends pages to the -wal file; a checkpoint copies
// them back into the database file and syncs both files (with
// synchronous=NORMAL the syncs happen there, not at each commit). SQLite
// runs a checkpoint inside the commit that takes the WAL past 1,000 pages,
// holding the write connection meanwhile: every insert, fetch and
// completion queued behind it waits for the copy and the two fsyncs. At
// 1,000 jobs/s that was about ten stalls a second of a few milliseconds
// each, most of the benchmark's W3 p99.
//
// So a checkpointer goroutine, on a connection of its own, runs a PASSIVE
// checkpoint checkpointDelay after writes were committed: it copies the new
// pages without blocking the writer. When it has copied everything before
// the next write transaction begins, that transaction starts the WAL over,
// so under a moderate write rate the WAL stays far below 1,000 pages and
// the write connection never checkpoints. Under a sustained stream of
// writes (a backlog being drained) the WAL grows anyway and the write
// connection's automatic checkpoint takes over, as without this loop: it
// bounds the WAL, and costs what it always did.
const checkpointDelay = 20 * time.Millisecond

// checkpointer runs WAL checkpoints in the background until close.
type checkpointer struct {
	db    *sql.DB       // one connection of its own
	dirty chan struct{} // a write was committed (capacity 1: coalesced)
	stop  context.CancelFunc
	done  chan struct{}
}

// startCheckpointer starts the loop on db, which close closes.
func startCheckpointer(db *sql.DB) *checkpointer {
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{db: db, dirty: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go c.run(ctx)
	return c
}

// poke tells the checkpointer that a write was committed. It never blocks.
func (c *checkpointer) poke() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	timer := time.NewTimer(checkpointDelay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dirty:
		}
		timer.Reset(checkpointDelay)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// An error (another process holds the checkpoint lock) is not
		// worth a log line: the next write pokes again, and the write
		// connection's own checkpoints are the safety net.
		var busy, logPages, copied int
		_ = c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logPages, &copied)
	}
}

// close stops the loop and closes its connection.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.db.Close()
}
