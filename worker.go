package boiler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doubleboiler/boiler/internal/jobcompleter"
	"github.com/doubleboiler/boiler/internal/maintenance"
	"github.com/doubleboiler/boiler/internal/periodic"
	"github.com/doubleboiler/boiler/store"
)

// Shutdown timing beyond WorkerOptions.ShutdownTimeout: after the timeout,
// cancelled handlers get releaseGrace to return, and the final flush of
// outcomes gets finalFlushTimeout, so Stop returns within ShutdownTimeout
// plus one second when the store answers.
const (
	releaseGrace      = 500 * time.Millisecond
	finalFlushTimeout = 400 * time.Millisecond
)

// Worker runs jobs from a store: it fetches due jobs of its queues in
// batches, runs each job's handler in its own goroutine (up to
// Concurrency at once), and records every outcome. Beside the fetch loop,
// it runs six services:
//
//   - the completer records outcomes in batches (one store call for up to
//     hundreds of jobs, a few milliseconds after they finish);
//   - the heartbeater extends the worker's leases every LeaseFor/3 and
//     cancels the jobs a person cancelled;
//   - the rescuer returns the jobs of dead workers (expired leases) to
//     their queue, every LeaseFor/2;
//   - the cleaner deletes finalized jobs past their retention, and the
//     worker registry's entries of workers that died;
//   - the registrar records the worker in the store's worker registry
//     (store.Store.WorkerList) at start and every LeaseFor/3, and removes
//     it at Stop;
//   - the periodic scheduler campaigns for the leadership of the workers
//     sharing the store and, while it leads, enqueues the periodic jobs'
//     ticks (see WorkerOptions.Periodic).
//
// A Worker runs once: Start (or Run), then Stop.
type Worker struct {
	store store.Store
	reg   *Registry
	opts  *WorkerOptions
	log   *slog.Logger

	completer   *jobcompleter.Completer
	heartbeater *maintenance.Heartbeater
	rescuer     *maintenance.Rescuer
	cleaner     *maintenance.Cleaner
	registrar   *maintenance.Registrar
	scheduler   *periodic.Scheduler
	startedAt   atomic.Pointer[time.Time] // set by Start, for the registry

	// Set by Start. baseCtx carries the Start context's values and is
	// never cancelled (the parent of the jobs' contexts, which Stop
	// cancels one by one); hardCtx, the parent of fetch calls, is
	// cancelled when the shutdown timeout runs out.
	baseCtx     context.Context
	hardCtx     context.Context
	hardCancel  context.CancelCauseFunc
	stopFetch   context.CancelFunc
	stopListen  context.CancelFunc
	fetchDone   chan struct{}
	lifecycleMu sync.Mutex
	started     bool
	stopDone    chan struct{} // closed when Stop has finished

	// Jobs leased and not finished, owned by the fetch loop (adds, see
	// dispatch) and the executors (removals, see jobDone). Guarded by mu:
	// running holds them all by ID (running or buffered), buffer the
	// prefetched ones waiting for a slot, in fetch order, and busy counts
	// the used slots. active and buffered mirror busy and len(buffer) for
	// readers that do not take mu.
	mu       sync.Mutex
	running  map[int64]*runningJob
	buffer   []*runningJob
	busy     int
	active   atomic.Int64
	buffered atomic.Int64
	finished chan struct{}    // a job finished (capacity 1: coalesced)
	idle     chan *runningJob // idle executors wait on it for their next job
	quit     chan struct{}    // closed at the end of Stop: idle executors exit

	stats workerCounters
}

// NewWorker returns a worker that runs jobs from s with the handlers of r.
// opts may be nil (every default); a bad option is an error naming it.
func NewWorker(s store.Store, r *Registry, opts *WorkerOptions) (*Worker, error) {
	if s == nil {
		return nil, errors.New("new worker: the store is nil")
	}
	if r == nil {
		return nil, errors.New("new worker: the registry is nil")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	defs, err := periodicDefinitions(o.Periodic)
	if err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	w := &Worker{
		store:    s,
		reg:      r,
		opts:     o,
		log:      o.Logger.With(slog.String("worker", o.ID)),
		running:  make(map[int64]*runningJob),
		finished: make(chan struct{}, 1),
		idle:     make(chan *runningJob),
		quit:     make(chan struct{}),
	}
	if w.completer, err = jobcompleter.New(&jobcompleter.Params{
		Store:       s,
		Logger:      w.log,
		MaxPending:  maxUnrecorded(o.Concurrency),
		StopTimeout: finalFlushTimeout,
	}); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	if w.heartbeater, err = maintenance.NewHeartbeater(&maintenance.HeartbeaterParams{
		Store:             s,
		Owner:             o.ID,
		LeaseFor:          o.LeaseFor,
		Active:            func() bool { return w.active.Load() > 0 || w.buffered.Load() > 0 || w.completer.Pending() > 0 },
		OnCancelRequested: w.cancelRequested,
		Clock:             o.Clock,
		Logger:            w.log,
	}); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	if w.rescuer, err = maintenance.NewRescuer(&maintenance.RescuerParams{
		Store:    s,
		Interval: o.LeaseFor / 2,
		Clock:    o.Clock,
		Logger:   w.log,
	}); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	if w.cleaner, err = maintenance.NewCleaner(&maintenance.CleanerParams{
		Store: s,
		Retention: map[store.State]time.Duration{
			store.StateCompleted: o.Retention,
			store.StateCancelled: o.Retention,
			store.StateDiscarded: o.DiscardedRetention,
		},
		WorkerStaleAfter: staleAfter(o.LeaseFor),
		Clock:            o.Clock,
		Logger:           w.log,
	}); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	if w.registrar, err = maintenance.NewRegistrar(&maintenance.RegistrarParams{
		Store:    s,
		Info:     w.registryInfo,
		Interval: o.LeaseFor / 3,
		Clock:    o.Clock,
		Logger:   w.log,
	}); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	if w.scheduler, err = periodic.New(&periodic.Params{
		Store:          s,
		Holder:         o.ID,
		Definitions:    defs,
		LeaderLease:    o.LeaderLease,
		OnLeaderChange: func(bool) { w.registrar.Poke() },
		Clock:          o.Clock,
		Logger:         w.log,
	}); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	return w, nil
}

// staleAfter is how long after its last heartbeat a worker's registry
// entry is deleted: 10 minutes, and at least ten heartbeats (LeaseFor/3).
func staleAfter(leaseFor time.Duration) time.Duration {
	return max(workerStaleAfter, 10*leaseFor/3)
}

// registryInfo is the worker's entry in the worker registry, as of now.
func (w *Worker) registryInfo() *store.WorkerInfo {
	host, _ := os.Hostname()
	queues := make([]string, len(w.opts.Queues))
	for i, q := range w.opts.Queues {
		queues[i] = q.Name
	}
	var startedAt time.Time
	if t := w.startedAt.Load(); t != nil {
		startedAt = *t
	}
	return &store.WorkerInfo{
		ID:          w.opts.ID,
		Host:        host,
		PID:         os.Getpid(),
		Queues:      queues,
		Concurrency: w.opts.Concurrency,
		Running:     int(w.active.Load()),
		Leader:      w.scheduler != nil && w.scheduler.Leader(),
		StartedAt:   startedAt,
	}
}

// Leader reports whether this worker is the periodic scheduler's leader
// now: the one worker of those sharing the store that enqueues the
// periodic jobs.
func (w *Worker) Leader() bool { return w.scheduler.Leader() }

// ID is the worker's id, the owner of its leases.
func (w *Worker) ID() string { return w.opts.ID }

// Start starts the worker's services and its fetch loop, and returns. ctx
// bounds nothing after Start returns: the worker runs until Stop. Its
// values are passed on to the handlers' contexts.
func (w *Worker) Start(ctx context.Context) error {
	w.lifecycleMu.Lock()
	defer w.lifecycleMu.Unlock()
	if w.started {
		return errors.New("start worker: already started (a Worker runs once)")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	w.started = true
	w.stopDone = make(chan struct{})
	w.baseCtx = context.WithoutCancel(ctx)
	w.hardCtx, w.hardCancel = context.WithCancelCause(w.baseCtx)
	startedAt := w.opts.Clock().UTC().Truncate(time.Microsecond)
	w.startedAt.Store(&startedAt)

	type service interface {
		Start(context.Context) error
		Stop()
	}
	var running []service
	for _, svc := range []service{w.completer, w.heartbeater, w.rescuer, w.cleaner, w.registrar, w.scheduler} {
		if err := svc.Start(w.baseCtx); err != nil {
			for _, r := range running {
				r.Stop()
			}
			close(w.stopDone) // Stop has nothing to do
			return fmt.Errorf("start worker: %w", err)
		}
		running = append(running, svc)
	}

	var notify <-chan string
	listenCtx, stopListen := context.WithCancel(w.baseCtx)
	w.stopListen = stopListen
	if l, ok := w.store.(insertListener); ok {
		ch, err := l.ListenInserts(listenCtx)
		if err != nil {
			w.log.Warn("listening for inserted jobs; polling only", slog.Duration("poll_interval", w.opts.PollInterval), slog.Any("error", err))
		} else {
			notify = ch
		}
	}

	fetchCtx, stopFetch := context.WithCancel(w.baseCtx)
	w.stopFetch = stopFetch
	w.fetchDone = make(chan struct{})
	go w.fetchLoop(fetchCtx, notify)

	w.log.Info("worker started", slog.Any("queues", w.opts.Queues), slog.Bool("strict_order", w.opts.StrictOrder),
		slog.Int("concurrency", w.opts.Concurrency), slog.Bool("notified", notify != nil))
	return nil
}

// Run starts the worker, waits for ctx to be done (a signal), and stops it
// gracefully (see [Worker.Stop]).
func (w *Worker) Run(ctx context.Context) error {
	if err := w.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return w.Stop(context.Background())
}

// Stop shuts the worker down gracefully, in this order:
//
//  1. The periodic scheduler stops (a leader resigns, so another worker
//     takes over at once), the rescuer and the cleaner stop, and the
//     fetch loop stops: no new work. (A fetch in flight finishes, so the jobs it leased are run or
//     released, not stranded until their lease expires.) The prefetched
//     jobs waiting for a slot are released at once (available again,
//     their attempt undone): they never run here.
//  2. Running jobs get until ShutdownTimeout (or ctx, if it is done
//     sooner) to finish; their outcomes are recorded as usual.
//  3. Then the contexts of the jobs still running are cancelled. Those
//     whose handler returns within half a second are released: available
//     again at once, their attempt undone (a deploy does not cost a job an
//     attempt). Those whose handler ignores its context are released
//     anyway; their goroutine's late outcome is dropped.
//  4. The heartbeater stops, only now: until every job is finished or
//     released, their leases must stay extended, or a rescuer elsewhere
//     could run them a second time while they still run here.
//  5. The completer stops, since every outcome of the steps above
//     (releases included) goes through it: its final flush records them.
//  6. The registrar stops last and removes the worker from the worker
//     registry: until then it has jobs, and the registry shows it.
//
// With a responsive store, Stop returns within ShutdownTimeout + 1 s. A
// second call waits for the first. Stopping a worker that never started
// does nothing.
func (w *Worker) Stop(ctx context.Context) error {
	w.lifecycleMu.Lock()
	if !w.started {
		w.lifecycleMu.Unlock()
		return nil
	}
	stopDone := w.stopDone
	first := w.stopFetch != nil
	stopFetch := w.stopFetch
	w.stopFetch = nil
	w.lifecycleMu.Unlock()
	if !first {
		<-stopDone
		return nil
	}
	defer close(stopDone)

	start := time.Now()
	deadline := time.NewTimer(w.opts.ShutdownTimeout)
	defer deadline.Stop()
	timeUp := make(chan struct{}) // closed at the deadline, or when ctx is done
	go func() {
		select {
		case <-deadline.C:
		case <-ctx.Done():
		case <-stopDone:
			return
		}
		close(timeUp)
	}()

	// 1. No new work.
	w.scheduler.Stop()
	w.rescuer.Stop()
	w.cleaner.Stop()
	stopFetch()
	select {
	case <-w.fetchDone:
	case <-timeUp:
		w.hardCancel(errWorkerShutdown) // cancels a hung fetch too
		<-w.fetchDone
	}
	w.stopListen()
	if n := w.releaseBuffered(); n > 0 {
		w.log.Info("worker stopping: released prefetched jobs", slog.Int("jobs", n))
	}

	// 2. Let running jobs finish.
	if n := w.active.Load(); n > 0 {
		w.log.Info("worker stopping: waiting for running jobs", slog.Int64("jobs", n),
			slog.Duration("shutdown_timeout", w.opts.ShutdownTimeout))
	}
	if !w.waitIdle(timeUp, nil) {
		// 3. Cancel the rest, then release them.
		w.log.Warn("shutdown timeout: cancelling running jobs; they return to their queue without using an attempt",
			slog.Int64("jobs", w.active.Load()), slog.Duration("after", time.Since(start)))
		w.hardCancel(errWorkerShutdown)
		w.cancelAll(errWorkerShutdown)
		grace := time.NewTimer(releaseGrace)
		if !w.waitIdle(nil, grace.C) {
			w.releaseAll()
		}
		grace.Stop()
	}
	w.hardCancel(errWorkerShutdown)

	// 4, 5, 6.
	w.heartbeater.Stop()
	w.completer.Stop()
	w.registrar.Stop()
	close(w.quit)
	w.log.Info("worker stopped", slog.Duration("took", time.Since(start)))
	return nil
}

// maxUnrecorded bounds the outcomes of finished jobs waiting in the
// completer: beyond it, finishing jobs wait (and hold their slot), which
// stops the fetching until the store catches up.
func maxUnrecorded(concurrency int) int { return max(10*concurrency, 1000) }

// waitIdle waits until no job runs, or until done is closed or timeout
// fires (either may be nil); it reports whether the worker is idle.
func (w *Worker) waitIdle(done <-chan struct{}, timeout <-chan time.Time) bool {
	for w.active.Load() > 0 {
		select {
		case <-w.finished:
		case <-done:
			return w.active.Load() == 0
		case <-timeout:
			return w.active.Load() == 0
		}
	}
	return true
}

// WorkerStats is a snapshot of a worker's counters since it started.
type WorkerStats struct {
	// Running is how many jobs run now (fetched and not finished).
	Running int
	// Completed counts jobs whose handler succeeded.
	Completed uint64
	// Failed counts failed attempts (errors, panics, timeouts, unknown
	// kinds), whether the job was retried or discarded.
	Failed uint64
	// Discarded counts jobs discarded (out of attempts, or args that do
	// not decode); they are also counted in Failed.
	Discarded uint64
	// Cancelled counts jobs cancelled by their handler or by a person.
	Cancelled uint64
	// Snoozed counts snoozes.
	Snoozed uint64
}

// workerCounters are the counters behind WorkerStats.
type workerCounters struct {
	completed, failed, discarded, cancelled, snoozed atomic.Uint64
}

// Stats returns the worker's counters. It is cheap (a few atomic loads).
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{
		Running:   int(w.active.Load()),
		Completed: w.stats.completed.Load(),
		Failed:    w.stats.failed.Load(),
		Discarded: w.stats.discarded.Load(),
		Cancelled: w.stats.cancelled.Load(),
		Snoozed:   w.stats.snoozed.Load(),
	}
}
