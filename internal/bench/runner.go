package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/store"
)

const (
	// e2eBatch is how many jobs one enqueue adds in W1's end-to-end phase:
	// a producer such as a web app adding a few jobs per request.
	e2eBatch = 100
	// sleepMS is how long a W2 job sleeps.
	sleepMS = 10
	// pollEvery is how often a phase checks its progress.
	pollEvery = 2 * time.Millisecond
	// reportEvery is how often a phase reports its progress.
	reportEvery = 100 * time.Millisecond
)

// runner runs one workload. Its methods run on the goroutine that called
// Run; only the recorder is shared with the worker's goroutines.
type runner struct {
	store  store.Store
	client *boiler.Client
	reg    *boiler.Registry
	w      Workload
	o      Options
	rec    *recorder
	// baseCompleted is how many completed jobs the queue had before the
	// workload, so a reused queue does not end a phase early.
	baseCompleted int64
	// lastReport is when Progress was last called.
	lastReport time.Time
}

func newRunner(s store.Store, w Workload, o Options) (*runner, error) {
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		return nil, err
	}
	r := &runner{store: s, client: client, reg: boiler.NewRegistry(), w: w, o: o, rec: &recorder{}}
	builtin.Register(r.reg, &builtin.Options{OnStart: r.rec.started})
	return r, nil
}

// queue is W1: enqueue Jobs no-op jobs one at a time, then Jobs in bulk,
// drain both with a worker, then enqueue Jobs in batches while a worker
// runs.
func (r *runner) queue(ctx context.Context, res *Result) error {
	n := r.o.Jobs
	base, err := r.completed(ctx)
	if err != nil {
		return err
	}
	r.baseCompleted = base

	start := time.Now()
	for i := range n {
		if _, err := r.client.Enqueue(ctx, builtin.NoopArgs{I: i}, r.enqueueOpts()); err != nil {
			return fmt.Errorf("enqueue one by one: %w", err)
		}
		r.report("enqueue one by one", i+1, n)
	}
	res.EnqueueOneRate = rate(n, time.Since(start))
	r.reportEnd("enqueue one by one", n)

	start = time.Now()
	if err := r.enqueueBulk(ctx, "enqueue in bulk", n, r.o.BatchSize, noop); err != nil {
		return err
	}
	res.EnqueueBulkRate = rate(n, time.Since(start))

	elapsed, err := r.runWorker(ctx, "drain", 2*n, nil)
	if err != nil {
		return err
	}
	res.DrainRate = rate(2*n, elapsed)

	elapsed, err = r.runWorker(ctx, "end to end", n, func(ctx context.Context) error {
		return r.enqueueBulk(ctx, "", n, e2eBatch, noop)
	})
	if err != nil {
		return err
	}
	res.EndToEndRate = rate(n, elapsed)
	res.LatencyP50, res.LatencyP99 = r.rec.percentiles()
	return nil
}

// io is W2: enqueue Jobs jobs that sleep 10 ms, then drain them.
func (r *runner) io(ctx context.Context, res *Result) error {
	base, err := r.completed(ctx)
	if err != nil {
		return err
	}
	r.baseCompleted = base
	sleep := func(int) boiler.JobArgs { return builtin.SleepArgs{MS: sleepMS} }
	if err := r.enqueueBulk(ctx, "enqueue in bulk", r.o.Jobs, r.o.BatchSize, sleep); err != nil {
		return err
	}
	elapsed, err := r.runWorker(ctx, "drain", r.o.Jobs, nil)
	if err != nil {
		return err
	}
	res.DrainRate = rate(r.o.Jobs, elapsed)
	res.LatencyP50, res.LatencyP99 = r.rec.percentiles()
	return nil
}

// latency is W3: enqueue Jobs no-op jobs at a steady Rate while a worker
// runs.
func (r *runner) latency(ctx context.Context, res *Result) error {
	base, err := r.completed(ctx)
	if err != nil {
		return err
	}
	r.baseCompleted = base
	elapsed, err := r.runWorker(ctx, "steady rate", r.o.Jobs, r.enqueueSteady)
	if err != nil {
		return err
	}
	res.EndToEndRate = rate(r.o.Jobs, elapsed)
	res.LatencyP50, res.LatencyP99 = r.rec.percentiles()
	return nil
}

// noop builds the i-th no-op job's args.
func noop(i int) boiler.JobArgs { return builtin.NoopArgs{I: i} }

// enqueueOpts are the options of every benchmark job.
func (r *runner) enqueueOpts() *boiler.EnqueueOptions {
	return &boiler.EnqueueOptions{Queue: r.o.Queue}
}

// enqueueBulk enqueues n jobs, batch per call. An empty phase reports
// nothing (the caller reports job starts instead).
func (r *runner) enqueueBulk(ctx context.Context, phase string, n, batch int, args func(int) boiler.JobArgs) error {
	params := make([]boiler.EnqueueParams, 0, batch)
	for done := 0; done < n; {
		params = params[:0]
		for i := done; i < min(n, done+batch); i++ {
			params = append(params, boiler.EnqueueParams{Args: args(i), Options: r.enqueueOpts()})
		}
		if _, err := r.client.EnqueueMany(ctx, params); err != nil {
			return fmt.Errorf("enqueue in bulk after %d jobs: %w", done, err)
		}
		done += len(params)
		if phase != "" {
			r.report(phase, done, n)
		}
	}
	if phase != "" {
		r.reportEnd(phase, n)
	}
	return nil
}

// enqueueSteady enqueues Jobs no-op jobs at Rate jobs per second: job i is
// due at i/Rate seconds from the start, and each round enqueues every job
// due so far in one call (one job when the store keeps up).
func (r *runner) enqueueSteady(ctx context.Context) error {
	n, perJob := r.o.Jobs, time.Second/time.Duration(r.o.Rate)
	start := time.Now()
	for sent := 0; sent < n; {
		due := min(n, int(time.Since(start)/perJob)+1)
		if due <= sent {
			wait := time.Until(start.Add(time.Duration(sent) * perJob))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		params := make([]boiler.EnqueueParams, due-sent)
		for i := range params {
			params[i] = boiler.EnqueueParams{Args: noop(sent + i), Options: r.enqueueOpts()}
		}
		if _, err := r.client.EnqueueMany(ctx, params); err != nil {
			return fmt.Errorf("enqueue at a steady rate after %d jobs: %w", sent, err)
		}
		sent = due
	}
	return nil
}

// runWorker starts a worker, runs produce (if any) beside it, waits until
// n more jobs started and completed, and stops the worker. It returns the
// time from the worker's start to the last completion. The recorder holds
// this phase's starts.
func (r *runner) runWorker(ctx context.Context, phase string, n int, produce func(context.Context) error) (time.Duration, error) {
	target, err := r.completed(ctx)
	if err != nil {
		return 0, err
	}
	target += int64(n)
	w, err := boiler.NewWorker(r.store, r.reg, &boiler.WorkerOptions{
		Queues:      []boiler.QueueWeight{{Name: r.o.Queue}},
		Concurrency: r.o.Concurrency,
		Logger:      r.o.Logger,
		// The worker's cleaner deletes old jobs of every queue: a
		// benchmark on a shared store must not.
		Retention:          -1,
		DiscardedRetention: -1,
	})
	if err != nil {
		return 0, err
	}
	r.rec.reset()
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		return 0, fmt.Errorf("%s: starting the worker: %w", phase, err)
	}
	pctx, cancelProduce := context.WithCancel(ctx)
	prod := &producer{done: make(chan struct{})}
	go func() {
		defer close(prod.done)
		if produce != nil {
			prod.err = produce(pctx)
		}
	}()
	err = r.waitDone(ctx, phase, n, target, prod)
	elapsed := time.Since(start)
	cancelProduce()
	<-prod.done
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if serr := w.Stop(stopCtx); serr != nil {
		err = errors.Join(err, fmt.Errorf("%s: stopping the worker: %w", phase, serr))
	}
	return elapsed, err
}

// producer is a phase's enqueueing goroutine: err is set before done is
// closed.
type producer struct {
	done chan struct{}
	err  error
}

// waitDone waits until the producer is done, n jobs have started, and
// the queue counts target completed jobs. It fails when nothing starts
// for StallTimeout.
func (r *runner) waitDone(ctx context.Context, phase string, n int, target int64, prod *producer) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	producing := prod.done
	last, lastMove := -1, time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-producing:
			if prod.err != nil {
				return fmt.Errorf("%s: %w", phase, prod.err)
			}
			producing = nil // a nil channel is never ready
			continue
		case <-tick.C:
		}
		started := r.rec.count()
		r.report(phase, started, n)
		if started != last {
			last, lastMove = started, time.Now()
		} else if time.Since(lastMove) > r.o.StallTimeout {
			return fmt.Errorf("%s: stalled: %d of %d jobs started, none for %s", phase, started, n, r.o.StallTimeout)
		}
		if producing != nil || started < n {
			continue
		}
		// Every job started: now wait for the worker to record their
		// completions (it acknowledges them in batches).
		done, err := r.completed(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", phase, err)
		}
		if done >= target {
			r.reportEnd(phase, n)
			return nil
		}
	}
}

// completed returns how many completed jobs the benchmark's queue holds.
func (r *runner) completed(ctx context.Context) (int64, error) {
	stats, err := r.client.QueueStats(ctx)
	if err != nil {
		return 0, err
	}
	for _, q := range stats {
		if q.Name == r.o.Queue {
			return q.Counts[store.StateCompleted], nil
		}
	}
	return 0, nil
}

// cleanup deletes the queue's jobs, newest first, page by page.
func (r *runner) cleanup(ctx context.Context) error {
	var before int64
	for {
		jobs, err := r.client.JobList(ctx, &store.JobListParams{Queue: r.o.Queue, BeforeID: before, Limit: 1000})
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		if len(jobs) == 0 {
			return nil
		}
		for _, j := range jobs {
			if _, err := r.client.JobDelete(ctx, j.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("cleanup: %w", err)
			}
			before = j.ID
		}
	}
}

// report calls Progress at most every reportEvery.
func (r *runner) report(phase string, done, total int) {
	if now := time.Now(); now.Sub(r.lastReport) >= reportEvery {
		r.lastReport = now
		r.o.Progress(Progress{Workload: r.w, Phase: phase, Done: done, Total: total})
	}
}

// reportEnd reports a finished phase.
func (r *runner) reportEnd(phase string, total int) {
	r.o.Progress(Progress{Workload: r.w, Phase: phase, Done: total, Total: total})
}

// rate is n jobs over d in jobs per second.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
