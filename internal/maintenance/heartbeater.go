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

// HeartbeatStore is the part of store.Store the heartbeater uses.
type HeartbeatStore interface {
	JobHeartbeat(ctx context.Context, params *store.JobHeartbeatParams) (*store.JobHeartbeatResult, error)
}

// HeartbeaterParams configure a Heartbeater.
type HeartbeaterParams struct {
	// Store is the job store. Required.
	Store HeartbeatStore
	// Owner is the worker's id. Required.
	Owner string
	// LeaseFor is how long each heartbeat extends the leases. Required.
	LeaseFor time.Duration
	// Interval between heartbeats. Default LeaseFor/3, so two heartbeats
	// can fail before a lease expires.
	Interval time.Duration
	// Active reports whether the worker holds leases; an idle worker
	// skips the heartbeat. Default: always active.
	Active func() bool
	// OnCancelRequested receives the ids of running jobs a person asked
	// to cancel (at every heartbeat until they stop). Default: ignored.
	OnCancelRequested func(ids []int64)
	// Clock is the time source. Default time.Now.
	Clock func() time.Time
	// Logger: default slog.Default().
	Logger *slog.Logger
}

// Heartbeater extends the leases of every job its worker runs, in one
// statement per heartbeat, and passes on cancel requests.
type Heartbeater struct {
	p    HeartbeaterParams
	loop service.Loop
}

// NewHeartbeater returns a heartbeater; Start runs it.
func NewHeartbeater(params *HeartbeaterParams) (*Heartbeater, error) {
	p := *params
	switch {
	case p.Store == nil:
		return nil, errors.New("heartbeater: Store is nil")
	case p.Owner == "":
		return nil, errors.New("heartbeater: Owner is empty")
	case p.LeaseFor <= 0:
		return nil, errors.New("heartbeater: LeaseFor must be positive")
	}
	p.Interval = cmp.Or(p.Interval, p.LeaseFor/3)
	if p.Active == nil {
		p.Active = func() bool { return true }
	}
	if p.OnCancelRequested == nil {
		p.OnCancelRequested = func([]int64) {}
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	p.Logger = cmp.Or(p.Logger, slog.Default())
	return &Heartbeater{p: p}, nil
}

// Start runs the heartbeats until Stop.
func (h *Heartbeater) Start(ctx context.Context) error { return h.loop.Start(ctx, h.run) }

// Stop ends the heartbeats.
func (h *Heartbeater) Stop() { h.loop.Stop() }

func (h *Heartbeater) run(ctx context.Context) {
	ticker := time.NewTicker(h.p.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		if h.p.Active() {
			h.beat(ctx)
		}
	}
}

func (h *Heartbeater) beat(ctx context.Context) {
	// A slow heartbeat (waiting for a busy store) still helps as long as
	// it lands before the leases expire.
	ctx, cancel := context.WithTimeout(ctx, h.p.LeaseFor/2)
	defer cancel()
	res, err := h.p.Store.JobHeartbeat(ctx, &store.JobHeartbeatParams{
		Owner:          h.p.Owner,
		LeaseExpiresAt: h.p.Clock().UTC().Truncate(time.Microsecond).Add(h.p.LeaseFor),
	})
	if err != nil {
		if ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			h.p.Logger.Warn("extending job leases; if this lasts longer than the lease, the jobs may be rescued and run again",
				slog.Duration("lease_for", h.p.LeaseFor), slog.Any("error", err))
		}
		return
	}
	if len(res.CancelRequested) > 0 {
		h.p.OnCancelRequested(res.CancelRequested)
	}
}
