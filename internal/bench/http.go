package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/httpserve"
	"github.com/doubleboiler/boiler/internal/builtin"
)

// loadPhase is the HTTP workload's progress phase; its Done and Total
// count seconds.
const loadPhase = "http load (seconds)"

// idleSettle is how long the HTTP workload lets the server and the worker
// sit idle before it reads the idle RSS.
const idleSettle = time.Second

// httpLoad is the HTTP workload: the server and a worker start, sit idle
// (the idle RSS), then Clients clients post single jobs to POST /api/jobs
// for Duration over keep-alive connections; then it waits until every
// accepted job is done.
func (r *runner) httpLoad(ctx context.Context, res *Result) (err error) {
	base, err := r.completed(ctx)
	if err != nil {
		return err
	}
	// The worker's starts go to a histogram rather than the recorder's
	// slice: hundreds of thousands of latencies must not weigh on the
	// RSS being measured.
	starts := &hist{}
	reg := boiler.NewRegistry()
	builtin.Register(reg, &builtin.Options{OnStart: func(job *boiler.JobRow, at time.Time) { starts.add(at.Sub(job.RunAt)) }})
	w, err := boiler.NewWorker(r.store, reg, &boiler.WorkerOptions{
		Queues:             []boiler.QueueWeight{{Name: r.o.Queue}},
		Concurrency:        r.o.Concurrency,
		Logger:             r.o.Logger,
		Retention:          -1,
		DiscardedRetention: -1,
	})
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("http: starting the worker: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if serr := w.Stop(stopCtx); serr != nil {
			err = errors.Join(err, fmt.Errorf("http: stopping the worker: %w", serr))
		}
	}()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("http: listening on the loopback interface: %w", err)
	}
	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() {
		served <- httpserve.Run(srvCtx, &httpserve.Options{Listener: ln, Handler: r.o.Handler, Logger: r.o.Logger})
	}()
	defer func() {
		stopServer()
		if serr := <-served; serr != nil {
			err = errors.Join(err, fmt.Errorf("http: the server: %w", serr))
		}
	}()
	baseURL := "http://" + ln.Addr().String()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	if err := waitHealthy(ctx, hc, baseURL); err != nil {
		return err
	}

	// Idle: earlier workloads' memory returned, then the process sits
	// still as a deployed server would between bursts.
	runtime.GC()
	debug.FreeOSMemory()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(idleSettle):
	}
	res.IdleRSS = currentRSS()

	resetPeakRSS()
	cpu0 := cpuTime()
	load := &loadStats{}
	loadCtx, cancel := context.WithTimeout(ctx, r.o.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range r.o.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			load.client(loadCtx, ln.Addr().String(), r.o.Queue, c)
		}()
	}
	if err := r.reportLoad(loadCtx, load, start); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		cancel()
		wg.Wait()
		return err
	}
	wg.Wait()
	stopped := time.Now()
	r.reportEnd(loadPhase, max(int(r.o.Duration/time.Second), 1))
	if err := ctx.Err(); err != nil {
		return err
	}
	res.LoadDuration = stopped.Sub(start)
	accepted := load.accepted.Load()
	res.Jobs = int(accepted)
	res.Errors = int(load.failed.Load())
	res.FirstError = load.firstError()
	res.AcceptedRate = rate(int(accepted), res.LoadDuration)
	res.RequestP50, res.RequestP99 = load.latency.quantile(0.50), load.latency.quantile(0.99)

	// Every accepted job done: the completed count reaches it.
	if err := r.waitCompleted(ctx, base+accepted); err != nil {
		return fmt.Errorf("http: after the load: %w", err)
	}
	res.DoneAfterLoad = time.Since(stopped)
	res.PeakRSS = peakRSS()
	if cpu := cpuTime() - cpu0; cpu > 0 && accepted > 0 {
		res.CPUPerJob = cpu / time.Duration(accepted)
	}
	res.LatencyP50, res.LatencyP99 = starts.quantile(0.50), starts.quantile(0.99)
	return nil
}

// waitHealthy waits until the server answers /healthz.
func waitHealthy(ctx context.Context, hc *http.Client, base string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get(base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("http: the server did not answer /healthz within 10 s: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// reportLoad reports the load's progress in seconds until it ends.
func (r *runner) reportLoad(ctx context.Context, load *loadStats, start time.Time) error {
	total := int(r.o.Duration / time.Second)
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			r.o.Progress(Progress{Workload: r.w, Phase: loadPhase, Done: int(time.Since(start) / time.Second), Total: max(total, 1)})
			if load.accepted.Load() == 0 && load.failed.Load() > 0 && time.Since(start) > time.Second {
				return fmt.Errorf("http: every request fails: %s", load.firstError())
			}
		}
	}
}

// waitCompleted waits until the queue counts target completed jobs,
// failing when the count does not move for StallTimeout.
func (r *runner) waitCompleted(ctx context.Context, target int64) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	last, lastMove := int64(-1), time.Now()
	for {
		done, err := r.completed(ctx)
		if err != nil {
			return err
		}
		if done >= target {
			return nil
		}
		if done != last {
			last, lastMove = done, time.Now()
		} else if time.Since(lastMove) > r.o.StallTimeout {
			return fmt.Errorf("stalled: %d of %d jobs completed, none for %s", done, target, r.o.StallTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// loadStats are the clients' counts, shared by them.
type loadStats struct {
	accepted atomic.Int64 // 201 answers
	failed   atomic.Int64 // anything else, or no answer
	latency  hist         // every request's, failed ones included

	mu    sync.Mutex
	first error // the first failure, for the report
}

// fail counts a failed request.
func (l *loadStats) fail(err error) {
	l.failed.Add(1)
	l.mu.Lock()
	if l.first == nil {
		l.first = err
	}
	l.mu.Unlock()
}

// firstError describes the first failure ("" when none).
func (l *loadStats) firstError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == nil {
		return ""
	}
	return l.first.Error()
}

// client posts one job at a time to POST /api/jobs of addr, on one
// keep-alive connection, until ctx ends.
func (l *loadStats) client(ctx context.Context, addr, queue string, c int) {
	rc := &rawClient{addr: addr}
	defer rc.close()
	prefix := []byte(`{"kind":"noop","queue":` + strconv.Quote(queue) + `,"args":{"i":`)
	body := make([]byte, 0, len(prefix)+24)
	for i := 0; ctx.Err() == nil; i++ {
		body = append(append(strconv.AppendInt(append(body[:0], prefix...), int64(c)<<32|int64(i), 10), '}'), '}')
		t0 := time.Now()
		err := rc.post("/api/jobs", body, http.StatusCreated)
		l.latency.add(time.Since(t0))
		if err != nil {
			l.fail(err)
			if _, answered := err.(*errStatus); !answered {
				time.Sleep(10 * time.Millisecond) // the connection broke: do not spin
			}
			continue
		}
		l.accepted.Add(1)
	}
}
