// Package jobcompleter records the outcomes of finished jobs in batches:
// one JobSetStateIfRunningMany round trip for up to a few hundred jobs,
// instead of one per job.
package jobcompleter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/doubleboiler/boiler/internal/service"
	"github.com/doubleboiler/boiler/store"
)

// Store is the part of store.Store the completer uses.
type Store interface {
	JobSetStateIfRunningMany(ctx context.Context, params []*store.JobSetStateParams) ([]bool, error)
}

// Params configure a Completer. Zero fields take their defaults.
type Params struct {
	// Store records the outcomes. Required.
	Store Store
	// Logger receives lost leases (warn) and store errors (error).
	// Default slog.Default().
	Logger *slog.Logger
	// BatchSize: a batch is flushed as soon as it has this many
	// outcomes. Default 100.
	BatchSize int
	// FlushDelay: a partial batch is flushed this long after its first
	// outcome arrived. Default 5 ms: a job's completion is durable a few
	// milliseconds after its handler returned.
	FlushDelay time.Duration
	// MaxBatch bounds one store call (a backlog after a store outage is
	// sent in chunks). Default 1,000.
	MaxBatch int
	// MaxPending bounds the outcomes waiting to be recorded; Add blocks
	// beyond it, which stops the worker from fetching while the store
	// cannot keep up. Default 10 × BatchSize.
	MaxPending int
	// CallTimeout bounds one store call. Default 10 s.
	CallTimeout time.Duration
	// StopTimeout bounds Stop: the store call in flight and the final
	// flush must end within it, or they are cancelled. Default 1 s.
	StopTimeout time.Duration
}

func (p *Params) withDefaults() (*Params, error) {
	if p.Store == nil {
		return nil, errors.New("jobcompleter: Store is nil")
	}
	q := *p
	q.Logger = cmp.Or(q.Logger, slog.Default())
	q.BatchSize = cmp.Or(q.BatchSize, 100)
	q.FlushDelay = cmp.Or(q.FlushDelay, 5*time.Millisecond)
	q.MaxBatch = cmp.Or(q.MaxBatch, 1000)
	q.MaxPending = cmp.Or(q.MaxPending, 10*q.BatchSize)
	q.CallTimeout = cmp.Or(q.CallTimeout, 10*time.Second)
	q.StopTimeout = cmp.Or(q.StopTimeout, time.Second)
	return &q, nil
}

// Completer batches outcomes. Add queues one; a loop flushes them when a
// batch is full or FlushDelay has passed; Stop flushes what is left.
type Completer struct {
	p    *Params
	loop service.Loop
	wake chan struct{} // an outcome was added (capacity 1: coalesced)
	// callCtx is the context of store calls: not cancelled when Stop
	// begins (a batch in flight finishes, so its result is known and it is
	// not sent twice), only when StopTimeout has passed.
	callCtx    context.Context
	callCancel context.CancelFunc

	mu      sync.Mutex
	space   *sync.Cond // signalled when pending shrinks or on stop
	pending []*store.JobSetStateParams
	stopped bool
}

// New returns a completer; Start runs it.
func New(params *Params) (*Completer, error) {
	p, err := params.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Completer{p: p, wake: make(chan struct{}, 1)}
	c.callCtx, c.callCancel = context.WithCancel(context.Background())
	c.space = sync.NewCond(&c.mu)
	return c, nil
}

// Start runs the flush loop until Stop.
func (c *Completer) Start(ctx context.Context) error { return c.loop.Start(ctx, c.run) }

// Stop ends the flush loop (letting a store call in progress finish), then
// flushes every outcome still waiting, within StopTimeout. Outcomes added
// after Stop are dropped with a log line: their jobs stay running in the
// store until a rescuer finds their lease expired.
func (c *Completer) Stop() {
	timeUp := time.AfterFunc(c.p.StopTimeout, c.callCancel)
	defer timeUp.Stop()
	defer c.callCancel()
	c.loop.Stop()
	c.mu.Lock()
	c.stopped = true
	c.space.Broadcast()
	c.mu.Unlock()
	if err := c.flushAll(c.callCtx); err != nil {
		c.p.Logger.Error("recording job outcomes at shutdown; their jobs will be rescued when their leases expire",
			slog.Int("jobs", c.Pending()), slog.Any("error", err))
	}
}

// Add queues one job's outcome. It blocks while MaxPending outcomes wait.
func (c *Completer) Add(p *store.JobSetStateParams) {
	c.add(p, true)
}

// AddNoWait queues one job's outcome without waiting for room (the worker
// uses it for releases at shutdown, when it must not block).
func (c *Completer) AddNoWait(p *store.JobSetStateParams) {
	c.add(p, false)
}

func (c *Completer) add(p *store.JobSetStateParams, wait bool) {
	c.mu.Lock()
	for wait && len(c.pending) >= c.p.MaxPending && !c.stopped {
		c.space.Wait()
	}
	if c.stopped {
		c.mu.Unlock()
		c.p.Logger.Warn("job outcome arrived after the completer stopped; the job will be rescued when its lease expires",
			slog.Int64("job_id", p.ID), slog.String("state", string(p.State)))
		return
	}
	c.pending = append(c.pending, p)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Pending is how many outcomes wait to be recorded.
func (c *Completer) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

func (c *Completer) run(ctx context.Context) {
	timer := time.NewTimer(0)
	<-timer.C
	retry := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		if c.Pending() == 0 {
			// A wake-up left over from outcomes a full-batch flush already
			// took: the delay must start at the next outcome, not now.
			continue
		}
		// Gather: wait for a full batch or FlushDelay.
		timer.Reset(c.p.FlushDelay)
	gather:
		for c.Pending() < c.p.BatchSize {
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
				break gather
			case <-c.wake:
			}
		}
		timer.Stop()
		if err := c.flushAll(c.callCtx); err != nil {
			retry++
			wait := min(time.Duration(retry)*100*time.Millisecond, 2*time.Second)
			c.p.Logger.Error("recording job outcomes; retrying", slog.Int("jobs", c.Pending()),
				slog.Duration("retry_in", wait), slog.Any("error", err))
			if !service.Sleep(ctx, wait) {
				return
			}
			c.signal()
			continue
		}
		retry = 0
	}
}

// signal makes the loop look at the pending outcomes again.
func (c *Completer) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// flushAll records every pending outcome, MaxBatch at a time. On error the
// outcomes not recorded stay pending.
func (c *Completer) flushAll(ctx context.Context) error {
	for {
		c.mu.Lock()
		n := min(len(c.pending), c.p.MaxBatch)
		batch := c.pending[:n:n]
		c.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := c.flush(ctx, batch); err != nil {
			return err
		}
		c.mu.Lock()
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil // let the backing array go
		}
		c.space.Broadcast()
		c.mu.Unlock()
	}
}

func (c *Completer) flush(ctx context.Context, batch []*store.JobSetStateParams) error {
	ctx, cancel := context.WithTimeout(ctx, c.p.CallTimeout)
	defer cancel()
	applied, err := c.p.Store.JobSetStateIfRunningMany(ctx, batch)
	if err != nil {
		return fmt.Errorf("setting the state of %d jobs: %w", len(batch), err)
	}
	for i, ok := range applied {
		if !ok {
			p := batch[i]
			c.p.Logger.Warn("job lease lost before its outcome was recorded (rescued by another worker?)",
				slog.Int64("job_id", p.ID), slog.Int("attempt", p.Attempt), slog.String("state", string(p.State)))
		}
	}
	return nil
}
