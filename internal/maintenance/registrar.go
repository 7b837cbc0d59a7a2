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

// beatTimeout bounds one beat (and so how long Stop may wait for one in
// flight).
const beatTimeout = 2 * time.Second

// RegistryStore is the part of store.Store the registrar uses.
type RegistryStore interface {
	WorkerBeat(ctx context.Context, info *store.WorkerInfo) error
	WorkerDelete(ctx context.Context, params *store.WorkerDeleteParams) (int, error)
}

// RegistrarParams configure a Registrar.
type RegistrarParams struct {
	// Store is the job store. Required.
	Store RegistryStore
	// Info returns the worker's entry as of now (HeartbeatAt is set by
	// the registrar). It is called from the registrar's goroutine.
	// Required, and its ID must not be empty.
	Info func() *store.WorkerInfo
	// Interval between beats. Required (the worker uses LeaseFor/3, its
	// heartbeat's interval).
	Interval time.Duration
	// Clock is the time source. Default time.Now.
	Clock func() time.Time
	// Logger: default slog.Default().
	Logger *slog.Logger
}

// Registrar keeps the worker's entry in the store's worker registry: it
// beats at Start and every Interval (and soon after Poke), and deletes
// the entry at Stop. A failed beat is logged (once until one succeeds
// again), never fatal. Stale entries of workers that died are deleted by
// the Cleaner.
type Registrar struct {
	p    RegistrarParams
	loop service.Loop
	poke chan struct{}
	id   string
}

// NewRegistrar returns a registrar; Start runs it.
func NewRegistrar(params *RegistrarParams) (*Registrar, error) {
	p := *params
	switch {
	case p.Store == nil:
		return nil, errors.New("registrar: Store is nil")
	case p.Info == nil:
		return nil, errors.New("registrar: Info is nil")
	case p.Interval <= 0:
		return nil, errors.New("registrar: Interval must be positive")
	}
	id := p.Info().ID
	if id == "" {
		return nil, errors.New("registrar: Info has an empty ID")
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	p.Logger = cmp.Or(p.Logger, slog.Default())
	return &Registrar{p: p, poke: make(chan struct{}, 1), id: id}, nil
}

// Start beats now and then every Interval, until Stop.
func (r *Registrar) Start(ctx context.Context) error { return r.loop.Start(ctx, r.run) }

// Stop ends the beats and deletes the worker's entry (a clean stop, so it
// vanishes from the list at once rather than when it goes stale).
func (r *Registrar) Stop() {
	r.loop.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := r.p.Store.WorkerDelete(ctx, &store.WorkerDeleteParams{ID: r.id}); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		r.p.Logger.Warn("removing this worker from the worker registry; it goes when its entry is stale", slog.Any("error", err))
	}
}

// Poke asks for a beat soon (for example when the worker became the
// periodic leader, so the registry shows it). It never blocks.
func (r *Registrar) Poke() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

func (r *Registrar) run(ctx context.Context) {
	ticker := time.NewTicker(r.p.Interval)
	defer ticker.Stop()
	failing := false
	for {
		failing = r.beat(ctx, failing)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-r.poke:
		}
	}
}

// beat records the entry; it returns whether it failed, and logs a
// failure only after a success (or the first), and a recovery.
func (r *Registrar) beat(parent context.Context, failing bool) bool {
	// Stop does not cancel a beat in flight but waits for it: a cancelled
	// write may still land in the store (PostgreSQL finishes a statement
	// whose cancel request arrives late), after Stop's delete, and leave
	// a stopped worker listed until it goes stale.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), min(r.p.Interval, beatTimeout))
	defer cancel()
	info := *r.p.Info()
	info.ID = r.id
	info.HeartbeatAt = r.p.Clock().UTC().Truncate(time.Microsecond)
	err := r.p.Store.WorkerBeat(ctx, &info)
	switch {
	case err != nil && !failing && parent.Err() == nil:
		r.p.Logger.Warn("recording this worker in the worker registry (the dashboard's list of workers); retrying at each heartbeat",
			slog.Any("error", err))
	case err == nil && failing:
		r.p.Logger.Info("recorded this worker in the worker registry again")
	}
	return err != nil
}
