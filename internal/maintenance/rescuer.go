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

// RescueStore is the part of store.Store the rescuer uses.
type RescueStore interface {
	JobRescue(ctx context.Context, params *store.JobRescueParams) (int, error)
}

// RescuerParams configure a Rescuer.
type RescuerParams struct {
	// Store is the job store. Required.
	Store RescueStore
	// Interval between rescues, jittered by ±10%. Required (the worker
	// uses LeaseFor/2: a dead worker's jobs run again within 1.5 leases).
	Interval time.Duration
	// Limit is the batch size of one JobRescue call; a full batch is
	// followed by another at once. Default 1,000.
	Limit int
	// Clock is the time source. Default time.Now.
	Clock func() time.Time
	// Logger: default slog.Default().
	Logger *slog.Logger
}

// Rescuer returns running jobs whose lease expired (their worker died) to
// the queue, through the store's JobRescue. It runs once at Start, then
// every Interval.
type Rescuer struct {
	p    RescuerParams
	loop service.Loop
}

// NewRescuer returns a rescuer; Start runs it.
func NewRescuer(params *RescuerParams) (*Rescuer, error) {
	p := *params
	switch {
	case p.Store == nil:
		return nil, errors.New("rescuer: Store is nil")
	case p.Interval <= 0:
		return nil, errors.New("rescuer: Interval must be positive")
	}
	p.Limit = cmp.Or(p.Limit, 1000)
	if p.Clock == nil {
		p.Clock = time.Now
	}
	p.Logger = cmp.Or(p.Logger, slog.Default())
	return &Rescuer{p: p}, nil
}

// Start runs the rescues until Stop.
func (r *Rescuer) Start(ctx context.Context) error { return r.loop.Start(ctx, r.run) }

// Stop ends the rescues.
func (r *Rescuer) Stop() { r.loop.Stop() }

func (r *Rescuer) run(ctx context.Context) {
	for {
		r.rescue(ctx)
		if !service.Sleep(ctx, service.Jitter(r.p.Interval, 0.1)) {
			return
		}
	}
}

// rescue rescues every expired lease, a batch at a time.
func (r *Rescuer) rescue(ctx context.Context) {
	total := 0
	for ctx.Err() == nil {
		n, err := r.p.Store.JobRescue(ctx, &store.JobRescueParams{
			Now:   r.p.Clock().UTC().Truncate(time.Microsecond),
			Limit: r.p.Limit,
		})
		if err != nil {
			if ctx.Err() == nil {
				r.p.Logger.Warn("rescuing jobs with expired leases", slog.Any("error", err))
			}
			break
		}
		total += n
		if n < r.p.Limit {
			break
		}
	}
	if total > 0 {
		r.p.Logger.Info("rescued jobs whose lease expired (their worker stopped without releasing them)",
			slog.Int("jobs", total))
	}
}
