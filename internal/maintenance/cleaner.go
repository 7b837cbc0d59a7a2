package maintenance

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/doubleboiler/boiler/internal/service"
	"github.com/doubleboiler/boiler/store"
)

// CleanStore is the part of store.Store the cleaner uses.
type CleanStore interface {
	JobDeleteFinalized(ctx context.Context, params *store.JobDeleteFinalizedParams) (int, error)
	WorkerDelete(ctx context.Context, params *store.WorkerDeleteParams) (int, error)
}

// CleanerParams configure a Cleaner.
type CleanerParams struct {
	// Store is the job store. Required.
	Store CleanStore
	// Retention is how long jobs are kept after they reach each final
	// state; a state that is absent, or has a negative retention, is
	// kept forever.
	Retention map[store.State]time.Duration
	// Interval between cleanings, jittered by ±10%. Default 5 min.
	Interval time.Duration
	// FirstDelay is the wait before the first cleaning. Default 10 s
	// (jittered), so a deploy that starts many workers at once does not
	// clean from all of them in the same second.
	FirstDelay time.Duration
	// Limit is the batch size of one delete; full batches repeat at once,
	// Pause apart. Default 1,000.
	Limit int
	// Pause between two batches, so a big cleaning does not hold the
	// store's write lock for long (SQLite has one writer). Default 10 ms.
	Pause time.Duration
	// WorkerStaleAfter is how long after its last heartbeat a worker's
	// entry in the worker registry is deleted (its worker died without a
	// clean stop). Zero: never.
	WorkerStaleAfter time.Duration
	// Clock is the time source. Default time.Now.
	Clock func() time.Time
	// Logger: default slog.Default().
	Logger *slog.Logger
}

// Cleaner deletes finalized jobs older than their retention, and the
// worker registry's entries of workers that died.
type Cleaner struct {
	p    CleanerParams
	loop service.Loop
}

// NewCleaner returns a cleaner; Start runs it.
func NewCleaner(params *CleanerParams) (*Cleaner, error) {
	p := *params
	if p.Store == nil {
		return nil, errors.New("cleaner: Store is nil")
	}
	for state := range p.Retention {
		if !state.Finalized() {
			return nil, errors.New("cleaner: Retention of state " + string(state) + ", which is not final")
		}
	}
	p.Interval = cmp.Or(p.Interval, 5*time.Minute)
	p.FirstDelay = cmp.Or(p.FirstDelay, 10*time.Second)
	p.Limit = cmp.Or(p.Limit, 1000)
	p.Pause = cmp.Or(p.Pause, 10*time.Millisecond)
	if p.Clock == nil {
		p.Clock = time.Now
	}
	p.Logger = cmp.Or(p.Logger, slog.Default())
	return &Cleaner{p: p}, nil
}

// Start runs the cleanings until Stop.
func (c *Cleaner) Start(ctx context.Context) error { return c.loop.Start(ctx, c.run) }

// Stop ends the cleanings.
func (c *Cleaner) Stop() { c.loop.Stop() }

func (c *Cleaner) run(ctx context.Context) {
	wait := service.Jitter(c.p.FirstDelay, 0.5)
	for service.Sleep(ctx, wait) {
		c.Clean(ctx)
		wait = service.Jitter(c.p.Interval, 0.1)
	}
}

// Clean deletes every finalized job past its retention, a batch at a
// time, and returns how many it deleted. The loop calls it; tests may too.
func (c *Cleaner) Clean(ctx context.Context) int {
	total := 0
	for _, state := range []store.State{store.StateCompleted, store.StateCancelled, store.StateDiscarded} {
		keep, ok := c.p.Retention[state]
		if !ok || keep < 0 {
			continue
		}
		before := c.p.Clock().UTC().Truncate(time.Microsecond).Add(-keep)
		for ctx.Err() == nil {
			n, err := c.p.Store.JobDeleteFinalized(ctx, &store.JobDeleteFinalizedParams{
				State: state, Before: before, Limit: c.p.Limit,
			})
			if err != nil {
				if ctx.Err() == nil {
					c.p.Logger.Warn("deleting old finalized jobs", slog.String("state", string(state)), slog.Any("error", err))
				}
				break
			}
			total += n
			if n < c.p.Limit || !service.Sleep(ctx, c.p.Pause) {
				break
			}
		}
	}
	if total > 0 {
		c.p.Logger.Info("deleted finalized jobs past their retention", slog.Int("jobs", total))
	}
	c.CleanWorkers(ctx)
	return total
}

// CleanWorkers deletes the registry entries of workers whose last
// heartbeat is older than WorkerStaleAfter, and returns how many.
func (c *Cleaner) CleanWorkers(ctx context.Context) int {
	if c.p.WorkerStaleAfter <= 0 || ctx.Err() != nil {
		return 0
	}
	before := c.p.Clock().UTC().Truncate(time.Microsecond).Add(-c.p.WorkerStaleAfter)
	n, err := c.p.Store.WorkerDelete(ctx, &store.WorkerDeleteParams{HeartbeatBefore: before})
	switch {
	case err != nil && ctx.Err() == nil && !errors.Is(err, errors.ErrUnsupported):
		c.p.Logger.Warn("deleting stale workers from the worker registry", slog.Any("error", err))
	case n > 0:
		c.p.Logger.Info("deleted workers without a heartbeat from the worker registry (they stopped without a clean shutdown)",
			slog.Int("workers", n), slog.Duration("stale_after", c.p.WorkerStaleAfter))
	}
	return n
}
