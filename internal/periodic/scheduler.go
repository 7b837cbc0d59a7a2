// Package periodic runs periodic jobs: a scheduler service that every
// worker runs, that campaigns for the store's "periodic" leadership, and
// that, while it leads, enqueues each periodic job's ticks through
// store.PeriodicFire; and the parser of the one-line form the command line
// takes (see [ParseLine]).
//
// Exactly once per tick rests on two guards: PeriodicFire fires a tick
// only if the entry's LastTick is before it (atomic in the store), and the
// job carries the unique key periodic:<name>:<tick>, so even two leaders
// for a moment (a paused leader whose lease expired) cannot enqueue a tick
// twice.
package periodic

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/doubleboiler/boiler/internal/service"
	"github.com/doubleboiler/boiler/schedule"
	"github.com/doubleboiler/boiler/store"
)

// LeaderName is the name of the leadership the schedulers campaign for.
const LeaderName = "periodic"

// Defaults of Params.
const (
	DefaultLeaderLease = 15 * time.Second
	DefaultMaxSleep    = time.Second
	DefaultGrace       = time.Minute
	DefaultMaxCatchUp  = 100
	DefaultUniqueFor   = time.Hour
	retryMin           = time.Second
	retryMax           = 30 * time.Second
	resignTimeout      = time.Second
)

// Store is the part of store.Store the scheduler uses.
type Store interface {
	LeaderElect(ctx context.Context, params *store.LeaderElectParams) (bool, error)
	LeaderResign(ctx context.Context, params *store.LeaderResignParams) error
	PeriodicUpsert(ctx context.Context, p *store.PeriodicJob) (*store.PeriodicJob, error)
	PeriodicList(ctx context.Context) ([]*store.PeriodicJob, error)
	PeriodicFire(ctx context.Context, params *store.PeriodicFireParams) (*store.PeriodicFireResult, error)
	PeriodicSetNext(ctx context.Context, name string, next time.Time) error
}

// Params configure a Scheduler.
type Params struct {
	// Store is the job store. Required.
	Store Store
	// Holder is this scheduler's unique id in the election (the worker's
	// ID). Required.
	Holder string
	// Definitions are upserted into the store at start (retried until
	// they are written); their CreatedAt and UpdatedAt are set then.
	// Default none: the scheduler still fires the entries others wrote.
	Definitions []*store.PeriodicJob
	// LeaderLease is how long a won or renewed leadership lasts; a dead
	// leader is replaced about LeaderLease after its last renewal. Default
	// 15 s.
	LeaderLease time.Duration
	// RenewEvery is how often the leader renews its lease and the others
	// campaign. Default LeaderLease/3.
	RenewEvery time.Duration
	// MaxSleep caps the leader's sleep until the next tick, so it notices
	// new entries (added by the API or another container) and
	// Definitions' changes soon. Default 1 s.
	MaxSleep time.Duration
	// Grace is how late a tick may fire and still count as on time;
	// older ticks were missed and follow their job's CatchUp. Default
	// 1 min, and at least 2·LeaderLease so that a leader's failover
	// does not count as a gap.
	Grace time.Duration
	// MaxCatchUp caps the missed ticks the all policy enqueues at once
	// (the newest ones). Default 100.
	MaxCatchUp int
	// UniqueFor is how long after its tick a fired job holds its unique
	// key. Default 1 h.
	UniqueFor time.Duration
	// OnLeaderChange is called (from the scheduler's goroutine) when the
	// scheduler becomes or stops being the leader. Default none.
	OnLeaderChange func(leader bool)
	// Clock is the time source. Default time.Now.
	Clock func() time.Time
	// Logger: default slog.Default().
	Logger *slog.Logger
}

// Scheduler elects a leader among the workers sharing a store and, while
// it is the leader, enqueues the periodic jobs' ticks. Start runs it;
// Step runs one cycle (tests call it with a fake clock).
type Scheduler struct {
	p      Params
	loop   service.Loop
	leader atomic.Bool

	// Owned by the goroutine that calls Step.
	upserted   bool
	leaseUntil time.Time // our lease's end as we set it
	nextElect  time.Time // next campaign or renewal
	failures   int       // consecutive store errors
	scheds     map[string]*schedule.Schedule
	badSpecs   map[string]string // name -> spec already reported
}

// New returns a scheduler; Start runs it.
func New(params *Params) (*Scheduler, error) {
	p := *params
	switch {
	case p.Store == nil:
		return nil, errors.New("periodic scheduler: Store is nil")
	case p.Holder == "":
		return nil, errors.New("periodic scheduler: Holder is empty")
	case p.LeaderLease < 0 || p.RenewEvery < 0 || p.MaxSleep < 0 || p.Grace < 0 || p.UniqueFor < 0 || p.MaxCatchUp < 0:
		return nil, errors.New("periodic scheduler: a duration or count is negative")
	}
	p.LeaderLease = cmp.Or(p.LeaderLease, DefaultLeaderLease)
	p.RenewEvery = cmp.Or(p.RenewEvery, p.LeaderLease/3)
	if p.RenewEvery >= p.LeaderLease {
		return nil, fmt.Errorf("periodic scheduler: RenewEvery %s must be shorter than LeaderLease %s", p.RenewEvery, p.LeaderLease)
	}
	p.MaxSleep = cmp.Or(p.MaxSleep, DefaultMaxSleep)
	p.Grace = max(cmp.Or(p.Grace, DefaultGrace), 2*p.LeaderLease)
	p.MaxCatchUp = cmp.Or(p.MaxCatchUp, DefaultMaxCatchUp)
	p.UniqueFor = cmp.Or(p.UniqueFor, DefaultUniqueFor)
	if p.OnLeaderChange == nil {
		p.OnLeaderChange = func(bool) {}
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	p.Logger = cmp.Or(p.Logger, slog.Default())
	return &Scheduler{
		p:        p,
		scheds:   make(map[string]*schedule.Schedule),
		badSpecs: make(map[string]string),
	}, nil
}

// Start runs the scheduler until Stop.
func (s *Scheduler) Start(ctx context.Context) error { return s.loop.Start(ctx, s.run) }

// Stop ends the scheduler; a leader resigns, so another worker takes over
// at its next campaign rather than after the lease.
func (s *Scheduler) Stop() { s.loop.Stop() }

// Leader reports whether the scheduler leads now.
func (s *Scheduler) Leader() bool { return s.leader.Load() }

func (s *Scheduler) run(ctx context.Context) {
	defer s.Resign(context.WithoutCancel(ctx))
	for {
		if !service.Sleep(ctx, s.Step(ctx)) {
			return
		}
	}
}

// Resign gives up the leadership if the scheduler holds it.
func (s *Scheduler) Resign(ctx context.Context) {
	if !s.leader.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, resignTimeout)
	defer cancel()
	if err := s.p.Store.LeaderResign(ctx, &store.LeaderResignParams{Name: LeaderName, Holder: s.p.Holder}); err != nil {
		s.p.Logger.Warn("periodic scheduler: resigning the leadership; another worker takes over when the lease expires",
			slog.Time("lease_until", s.leaseUntil), slog.Any("error", err))
	}
	s.setLeader(false, "resigned")
}

func (s *Scheduler) now() time.Time { return s.p.Clock().UTC().Truncate(time.Microsecond) }

func (s *Scheduler) setLeader(leader bool, why string) {
	if s.leader.Swap(leader) == leader {
		return
	}
	if leader {
		s.p.Logger.Info("periodic scheduler: this worker is now the leader; it enqueues the periodic jobs",
			slog.Duration("lease", s.p.LeaderLease))
	} else {
		s.p.Logger.Info("periodic scheduler: this worker is no longer the leader", slog.String("why", why))
	}
	s.p.OnLeaderChange(leader)
}

// Step runs one cycle: it writes the definitions if they are not written
// yet, campaigns or renews when due, and, as the leader, fires every due
// tick. It returns how long to wait before the next cycle.
func (s *Scheduler) Step(ctx context.Context) time.Duration {
	wait, err := s.step(ctx)
	if err == nil {
		s.failures = 0
		return max(wait, time.Millisecond)
	}
	if ctx.Err() != nil {
		return time.Millisecond // stopping
	}
	s.failures++
	retry := service.Jitter(min(retryMin<<min(s.failures-1, 10), retryMax), 0.2)
	s.p.Logger.Warn("periodic scheduler: store error; retrying", slog.Duration("retry_in", retry),
		slog.Int("failures", s.failures), slog.Any("error", err))
	return retry
}

func (s *Scheduler) step(ctx context.Context) (time.Duration, error) {
	now := s.now()
	if !s.upserted {
		if err := s.upsert(ctx, now); err != nil {
			return 0, err
		}
	}
	if !now.Before(s.nextElect) {
		won, err := s.p.Store.LeaderElect(ctx, &store.LeaderElectParams{
			Name: LeaderName, Holder: s.p.Holder, Now: now, ExpiresAt: now.Add(s.p.LeaderLease),
		})
		if err != nil {
			if s.leader.Load() && !now.Before(s.leaseUntil) {
				s.setLeader(false, "its lease expired while the store failed")
			}
			return 0, fmt.Errorf("campaigning for the periodic leadership: %w", err)
		}
		if won {
			s.leaseUntil = now.Add(s.p.LeaderLease)
		}
		s.nextElect = now.Add(s.p.RenewEvery)
		s.setLeader(won, "another worker holds the lease")
	}
	if !s.leader.Load() {
		return s.nextElect.Sub(now), nil
	}
	next, err := s.fireDue(ctx, now)
	if err != nil {
		return 0, err
	}
	wait := min(s.p.MaxSleep, s.nextElect.Sub(s.now()))
	if !next.IsZero() {
		wait = min(wait, next.Sub(s.now()))
	}
	return wait, nil
}

// upsert writes the definitions, then reports entries of the same
// sources that this worker does not declare (left over from an earlier
// version of the code or command line, they keep firing until deleted).
func (s *Scheduler) upsert(ctx context.Context, now time.Time) error {
	declared := make(map[string]bool, len(s.p.Definitions))
	sources := make(map[string]bool)
	for _, d := range s.p.Definitions {
		def := *d
		def.CreatedAt, def.UpdatedAt = now, now
		if _, err := s.p.Store.PeriodicUpsert(ctx, &def); err != nil {
			return fmt.Errorf("writing periodic job %s: %w", d.Name, err)
		}
		declared[d.Name] = true
		sources[d.Source] = true
	}
	s.upserted = true
	if len(s.p.Definitions) == 0 {
		return nil
	}
	s.p.Logger.Info("periodic jobs declared", slog.Int("count", len(s.p.Definitions)))
	all, err := s.p.Store.PeriodicList(ctx)
	if err != nil {
		return nil // only a courtesy; the leader lists again
	}
	for _, p := range all {
		if sources[p.Source] && !declared[p.Name] {
			s.p.Logger.Info("periodic job in the store not declared by this worker; it keeps running: if nothing declares it any more, delete it (boiler periodic delete NAME)",
				slog.String("name", p.Name), slog.String("spec", p.Spec), slog.String("kind", p.Kind), slog.String("source", p.Source))
		}
	}
	return nil
}

// fireDue fires the due ticks of every entry and returns the earliest
// next tick.
func (s *Scheduler) fireDue(ctx context.Context, now time.Time) (time.Time, error) {
	entries, err := s.p.Store.PeriodicList(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("listing periodic jobs: %w", err)
	}
	var earliest time.Time
	var firstErr error
	for _, e := range entries {
		next, err := s.fireEntry(ctx, e, now)
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}, err
			}
			firstErr = cmp.Or(firstErr, err) // the others still fire
			continue
		}
		if !next.IsZero() && (earliest.IsZero() || next.Before(earliest)) {
			earliest = next
		}
	}
	return earliest, firstErr
}

// sched returns the parsed schedule of e, or nil (reported once) if its
// spec does not parse.
func (s *Scheduler) sched(e *store.PeriodicJob) *schedule.Schedule {
	if sc, ok := s.scheds[e.Spec]; ok {
		return sc
	}
	sc, err := schedule.Parse(e.Spec)
	if err != nil {
		if s.badSpecs[e.Name] != e.Spec {
			s.badSpecs[e.Name] = e.Spec
			s.p.Logger.Error("periodic job has a bad schedule; it does not run until fixed",
				slog.String("name", e.Name), slog.Any("error", err))
		}
		return nil
	}
	s.scheds[e.Spec] = sc
	return sc
}

// fireEntry fires the due ticks of one entry and returns its next tick.
func (s *Scheduler) fireEntry(ctx context.Context, e *store.PeriodicJob, now time.Time) (time.Time, error) {
	sc := s.sched(e)
	if sc == nil {
		return time.Time{}, nil
	}
	policy := e.CatchUp
	if !policy.Valid() {
		policy = store.CatchUpOnce
	}
	plan := PlanTicks(&PlanParams{
		Sched: sc, LastTick: e.LastTick, CreatedAt: e.CreatedAt, CatchUp: policy,
		Now: now, Grace: s.p.Grace, MaxCatchUp: s.p.MaxCatchUp,
	})
	if plan.Missed > 0 {
		s.logMissed(e, policy, &plan)
	}
	if !plan.Skip.IsZero() {
		if err := s.fire(ctx, e, sc, plan.Skip, false); err != nil {
			return time.Time{}, err
		}
	}
	for _, tick := range plan.Fire {
		if !s.now().Before(s.leaseUntil) {
			return plan.Next, nil // the lease ran out mid-cycle: the next cycle renews first
		}
		if err := s.fire(ctx, e, sc, tick, true); err != nil {
			return time.Time{}, err
		}
	}
	if len(plan.Fire) == 0 && plan.Skip.IsZero() && !plan.Next.IsZero() && !plan.Next.Equal(e.NextTick) {
		if err := s.p.Store.PeriodicSetNext(ctx, e.Name, plan.Next); err != nil && !errors.Is(err, store.ErrNotFound) {
			return time.Time{}, fmt.Errorf("recording the next tick of periodic job %s: %w", e.Name, err)
		}
	}
	return plan.Next, nil
}

func (s *Scheduler) logMissed(e *store.PeriodicJob, policy store.CatchUp, plan *Plan) {
	var did string
	switch {
	case policy == store.CatchUpSkip:
		did = "skipped the missed ticks"
	case policy == store.CatchUpAll && plan.Capped > 0:
		did = fmt.Sprintf("enqueued the newest %d missed ticks, dropped the %d older ones (at most %d catch-up runs)",
			plan.Missed-plan.Capped, plan.Capped, s.p.MaxCatchUp)
	case policy == store.CatchUpAll:
		did = "enqueued every missed tick"
	default:
		did = "enqueued one run for the newest missed tick"
	}
	missed := slog.Int("missed", plan.Missed)
	if plan.MissedMore {
		missed = slog.String("missed", fmt.Sprintf("more than %d", plan.Missed))
	}
	s.p.Logger.Warn("periodic job missed ticks while no scheduler ran; "+did,
		slog.String("name", e.Name), slog.String("spec", e.Spec), missed,
		slog.Time("first_missed", plan.FirstMissed), slog.Time("last_missed", plan.LastMissed),
		slog.String("catch_up", string(policy)))
}

// fire enqueues (or, without withJob, records as skipped) one tick.
func (s *Scheduler) fire(ctx context.Context, e *store.PeriodicJob, sc *schedule.Schedule, tick time.Time, withJob bool) error {
	now := s.now()
	params := &store.PeriodicFireParams{Name: e.Name, Tick: tick, NextTick: sc.Next(maxTime(tick, now)), Now: now}
	if withJob {
		params.Job = InsertParams(e, tick, now, s.p.UniqueFor)
	}
	res, err := s.p.Store.PeriodicFire(ctx, params)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil // deleted meanwhile
	case err != nil:
		return fmt.Errorf("firing periodic job %s at %s: %w", e.Name, tick.Format(time.RFC3339), err)
	case !res.Fired:
		// Another leader fired it (or a later tick) first: the store's
		// guard did its job.
		s.p.Logger.Debug("periodic tick already fired", slog.String("name", e.Name), slog.Time("tick", tick))
	case res.Duplicate:
		s.p.Logger.Warn("periodic tick: a job with its unique key already existed, so none was enqueued (two schedulers fired the same tick; the unique key kept it once)",
			slog.String("name", e.Name), slog.Time("tick", tick), slog.Int64("job_id", res.Job.ID))
	case res.Job != nil:
		s.p.Logger.Debug("periodic job enqueued", slog.String("name", e.Name), slog.Time("tick", tick), slog.Int64("job_id", res.Job.ID))
	}
	return nil
}

// UniqueKey is the unique key of the job of a periodic job's tick.
func UniqueKey(name string, tick time.Time) string {
	return "periodic:" + name + ":" + tick.UTC().Format(time.RFC3339Nano)
}

// InsertParams is the job of entry e for tick, enqueued at now: its
// template, with defaults for the fields a hand-written entry may lack,
// and the tick's unique key held until uniqueFor after the tick (or after
// now, for a late tick).
func InsertParams(e *store.PeriodicJob, tick, now time.Time, uniqueFor time.Duration) *store.JobInsertParams {
	args := e.Args
	if len(args) == 0 {
		args = []byte("{}")
	}
	return &store.JobInsertParams{
		Kind:        e.Kind,
		Queue:       cmp.Or(e.Queue, "default"),
		Priority:    e.Priority,
		Args:        args,
		MaxAttempts: cmp.Or(e.MaxAttempts, 25),
		Timeout:     max(e.Timeout, 0),
		RunAt:       now,
		UniqueKey:   UniqueKey(e.Name, tick),
		UniqueUntil: maxTime(tick, now).Add(uniqueFor),
	}
}
