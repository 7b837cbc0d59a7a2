package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/store"
)

// PoolsOptions configure [Pools].
type PoolsOptions struct {
	// Store is what the pools' workers run jobs from. Required.
	Store store.Store
	// Registry holds the handlers the workers run. Required.
	Registry *boiler.Registry
	// Worker is the template of each pool's options (its ID is left to
	// the default, unique per pool). Default: boiler's defaults with
	// Concurrency 10, so that one pool is visibly not enough for a burst.
	Worker boiler.WorkerOptions
	// Logger receives the pools' own lines (a pool started or stopped).
	// Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Pools runs a number of in-process worker pools (each a [boiler.Worker])
// and changes that number on request: it is the [autoscale.Target] of the
// demo, standing for the worker processes a Procfile would scale. It is
// safe for concurrent use.
type Pools struct {
	opts PoolsOptions

	mu    sync.Mutex
	pools []*pool // started, oldest first
}

// pool is one running worker.
type pool struct {
	w       *boiler.Worker
	started time.Time
}

// NewPools checks opts and returns pools, none running yet.
func NewPools(opts PoolsOptions) (*Pools, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("demo pools: PoolsOptions.Store is nil")
	case opts.Registry == nil:
		return nil, errors.New("demo pools: PoolsOptions.Registry is nil")
	}
	if opts.Worker.Concurrency == 0 {
		opts.Worker.Concurrency = 10
	}
	opts.Worker.ID = ""
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Pools{opts: opts}, nil
}

// Current implements [autoscale.Target]: how many pools run.
func (p *Pools) Current(context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pools), nil
}

// Set implements [autoscale.Target]: it starts pools, or stops the newest
// ones gracefully (their running jobs finish, their prefetched jobs go
// back to the queue), until n run. Pools being stopped no longer count,
// and do not hold up Current or Info while their jobs finish.
func (p *Pools) Set(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("demo pools: cannot run %d pools", n)
	}
	stopping, err := p.resize(ctx, n)
	var errs []error
	for _, pl := range stopping {
		if err := pl.w.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("demo pools: stopping %s: %w", pl.w.ID(), err))
		}
	}
	if len(stopping) > 0 {
		p.opts.Logger.Info("worker pools stopped", "stopped", len(stopping), "pools", n)
	}
	return errors.Join(append([]error{err}, errs...)...)
}

// resize starts pools until n run, or takes the newest ones out of the
// list until n remain and returns them for the caller to stop.
func (p *Pools) resize(ctx context.Context, n int) ([]*pool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.pools) < n {
		o := p.opts.Worker
		w, err := boiler.NewWorker(p.opts.Store, p.opts.Registry, &o)
		if err != nil {
			return nil, fmt.Errorf("demo pools: %w", err)
		}
		if err := w.Start(ctx); err != nil {
			return nil, fmt.Errorf("demo pools: %w", err)
		}
		p.pools = append(p.pools, &pool{w: w, started: p.opts.Now()})
		p.opts.Logger.Info("worker pool started", "worker", w.ID(), "pools", len(p.pools))
	}
	if len(p.pools) > n {
		stopping := slices.Clone(p.pools[n:])
		p.pools = p.pools[:n]
		return stopping, nil
	}
	return nil, nil
}

// PoolInfo describes one running pool.
type PoolInfo struct {
	// ID is the worker's ID (the owner of its leases).
	ID string `json:"id"`
	// StartedAt is when the pool started.
	StartedAt time.Time `json:"started_at"`
	// Concurrency is how many jobs the pool runs at once.
	Concurrency int `json:"concurrency"`
	// Running is how many jobs it runs now.
	Running int `json:"running"`
	// Completed and Failed count its jobs since it started.
	Completed uint64 `json:"completed"`
	Failed    uint64 `json:"failed"`
}

// Info describes the running pools, oldest first.
func (p *Pools) Info() []PoolInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PoolInfo, 0, len(p.pools))
	for _, pl := range p.pools {
		st := pl.w.Stats()
		out = append(out, PoolInfo{ID: pl.w.ID(), StartedAt: pl.started, Concurrency: p.opts.Worker.Concurrency,
			Running: st.Running, Completed: st.Completed, Failed: st.Failed})
	}
	return out
}

// Stop stops every pool, newest first (see [boiler.Worker.Stop]); ctx
// done means stop waiting for running jobs.
func (p *Pools) Stop(ctx context.Context) error {
	p.mu.Lock()
	pools := slices.Clone(p.pools)
	p.pools = nil
	p.mu.Unlock()
	var errs []error
	for i := len(pools) - 1; i >= 0; i-- {
		errs = append(errs, pools[i].w.Stop(ctx))
	}
	return errors.Join(errs...)
}

var _ autoscale.Target = (*Pools)(nil)
