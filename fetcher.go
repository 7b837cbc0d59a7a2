package boiler

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/doubleboiler/boiler/internal/service"
	"github.com/doubleboiler/boiler/store"
)

// insertListener is implemented by stores that notify inserts (see
// store.Listener); the worker then fetches as soon as a job arrives
// instead of at its next poll.
type insertListener interface {
	ListenInserts(ctx context.Context) (<-chan string, error)
}

// Fetch pacing. When the room for jobs (free slots and free places in
// the prefetch buffer) is less than half a batch, the worker waits up to
// fetchCooldown for more to free up, so a busy worker fetches in batches
// rather than one job per finished job. Fetch errors
// back off from fetchRetryMin to fetchRetryMax.
const (
	fetchCooldown = 5 * time.Millisecond
	fetchRetryMin = 100 * time.Millisecond
	fetchRetryMax = 5 * time.Second
)

// fetchLoop fetches jobs until ctx is done. It fetches when it has room
// (free slots, or free places in the prefetch buffer) and a reason to
// believe jobs are due: at start, on a poll tick, on an insert
// notification for one of its queues, or because the previous fetch came
// back full. A store error is logged and retried with backoff;
// it never ends the loop.
func (w *Worker) fetchLoop(ctx context.Context, notify <-chan string) {
	defer close(w.fetchDone)
	order := newQueueOrder(w.opts.Queues, w.opts.StrictOrder, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	poll := time.NewTicker(w.opts.PollInterval)
	defer poll.Stop()
	timer := time.NewTimer(time.Hour) // the cooldown, or the retry after an error
	defer timer.Stop()
	var (
		want      = true // jobs may be due
		lastFetch time.Time
		retryAt   time.Time // after a fetch error, no fetch before this
		failures  int
		halfBatch = max(w.opts.FetchBatch/2, 1)
	)
	for {
		// Room for jobs: the free slots, and the buffer's (Prefetch).
		free := w.opts.Concurrency + w.opts.Prefetch - int(w.active.Load()) - int(w.buffered.Load())
		if now := time.Now(); want && free > 0 && !now.Before(retryAt) {
			since := now.Sub(lastFetch)
			if free < halfBatch && since < fetchCooldown {
				timer.Reset(fetchCooldown - since) // let more room free up
			} else {
				limit := min(free, w.opts.FetchBatch)
				n, err := w.fetch(order.next(), limit)
				lastFetch = time.Now()
				if err == nil {
					failures = 0
					want = n == limit // a full batch: there may be more
					continue
				}
				if ctx.Err() != nil {
					return
				}
				failures++
				retry := service.Jitter(min(fetchRetryMin<<min(failures-1, 10), fetchRetryMax), 0.2)
				w.log.Error("fetching jobs; retrying", slog.Duration("retry_in", retry), slog.Int("failures", failures), slog.Any("error", err))
				retryAt = lastFetch.Add(retry)
				timer.Reset(retry)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.finished: // a slot is free
		case _, ok := <-notify:
			// Whatever the queue: one notification may stand for several
			// inserts (coalesced), ours among them.
			if !ok {
				notify = nil
			}
			want = true
		case <-poll.C:
			want = true
		case <-timer.C:
		}
	}
}

// fetch leases up to limit jobs from queues (in that order) and starts
// them. The call is not cancelled by Stop (only once the shutdown timeout
// runs out): jobs it leased are then run or released, not stranded until
// their lease expires.
func (w *Worker) fetch(queues []string, limit int) (int, error) {
	ctx, cancel := context.WithTimeout(w.hardCtx, w.opts.LeaseFor)
	defer cancel()
	now := w.now()
	jobs, err := w.store.JobFetch(ctx, &store.JobFetchParams{
		Queues:         queues,
		Limit:          limit,
		Owner:          w.opts.ID,
		Now:            now,
		LeaseExpiresAt: now.Add(w.opts.LeaseFor),
	})
	w.dispatch(jobs)
	return len(jobs), err
}

// now is the worker's clock in UTC, truncated to microseconds.
func (w *Worker) now() time.Time { return w.opts.Clock().UTC().Truncate(time.Microsecond) }
