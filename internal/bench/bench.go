// Package bench runs the workloads every store is measured on (see
// DESIGN.md), in process, with the built-in job kinds:
//
//   - W1 queue: enqueue no-op jobs one at a time and in bulk, drain them
//     with a worker, then enqueue while the worker runs (end to end).
//   - W2 io: jobs that each sleep 10 ms, drained by a worker; the ideal is
//     Concurrency / 10 ms (10,000 jobs/s at 100).
//   - W3 latency: a steady 1,000 jobs/s enqueued while the worker runs; the
//     figure is enqueue-to-start latency.
//   - HTTP: the JSON API under load (issue 6): 64 clients post single jobs
//     to POST /api/jobs for 20 s over keep-alive connections on the
//     loopback interface, served by Options.Handler (boiler serve's
//     stack) with a worker in the same process; the figures are accepted
//     jobs/s, request latency, the time from the load's end until every
//     job is done, and the idle and peak RSS.
//
// Every workload reports enqueue-to-start latency (p50, p99) and the
// process's peak resident set size. The figures measure the client and
// the worker in one process, sharing the machine with the database (and,
// for HTTP, with the load's clients).
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// Workload names a benchmark workload.
type Workload string

// The workloads.
const (
	W1 Workload = "w1" // queue throughput: enqueue, drain, end to end
	W2 Workload = "w2" // I/O-bound jobs: 10 ms sleeps
	W3 Workload = "w3" // latency at a steady rate
	// HTTP is the JSON API's load test; it needs Options.Handler.
	HTTP Workload = "http"
)

// Workloads returns the queue workloads W1, W2 and W3, in order: what
// "all" runs. HTTP is run when named.
func Workloads() []Workload { return []Workload{W1, W2, W3} }

// known reports whether w is a workload.
func known(w Workload) bool { return w == HTTP || slices.Contains(Workloads(), w) }

// ParseWorkloads parses a --workload value: w1, w2, w3, http, a
// comma-separated list of them, or all (w1, w2 and w3).
func ParseWorkloads(s string) ([]Workload, error) {
	if strings.EqualFold(strings.TrimSpace(s), "all") {
		return Workloads(), nil
	}
	var out []Workload
	for part := range strings.SplitSeq(s, ",") {
		w := Workload(strings.ToLower(strings.TrimSpace(part)))
		if !known(w) {
			return nil, fmt.Errorf("unknown workload %q: want w1, w2, w3, http or all", part)
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out, nil
}

// defaultJobs is a workload's job count when Options.Jobs is zero.
func (w Workload) defaultJobs() int {
	switch w {
	case W1:
		return 20_000
	case W2:
		return 5_000
	}
	return 10_000 // W3: 10 s at 1,000 jobs/s
}

// Options configure [Run]. The zero value runs a workload at its default
// size.
type Options struct {
	// Jobs is the workload's size. Default (zero): W1 20,000 (each
	// enqueue style adds that many), W2 5,000, W3 10,000 (10 s at Rate).
	Jobs int
	// Concurrency is the worker's concurrency. Default 100.
	Concurrency int
	// Queue is the queue the jobs go to. Default "bench". Use a name no
	// one else uses on a shared store: Cleanup deletes its jobs.
	Queue string
	// BatchSize is how many jobs one bulk enqueue adds. Default 1,000.
	BatchSize int
	// Rate is W3's enqueue rate in jobs per second. Default 1,000.
	Rate int
	// StallTimeout fails a phase in which no job was enqueued, started or
	// completed for this long (a lost job, a dead store). Default 30 s.
	StallTimeout time.Duration
	// Cleanup deletes the queue's jobs when the workload ends, so a
	// shared store is left as it was. Default false (a throwaway store).
	Cleanup bool
	// Progress, when set, is called about ten times a second while a
	// phase runs and once when it ends, from the goroutine that called
	// Run. Default nil.
	Progress func(Progress)
	// Logger receives the worker's logs. Default: discarded.
	Logger *slog.Logger
	// StoreName names the store in the result (Result.Store), for
	// reports that compare stores, for example "sqlite". Default empty.
	StoreName string

	// Handler is what the HTTP workload serves: the API's handler stack
	// as boiler serve builds it, on the store given to Run. Required by
	// HTTP, unused by the others.
	Handler http.Handler
	// Duration is how long the HTTP workload's clients post. Default
	// 20 s.
	Duration time.Duration
	// Clients is how many clients post at once in the HTTP workload,
	// each on its own keep-alive connection. Default 64.
	Clients int
}

// withDefaults returns a copy of o with its zero fields filled, or an
// error naming the first bad field.
func (o *Options) withDefaults(w Workload) (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	switch {
	case c.Jobs < 0:
		return c, fmt.Errorf("bench options: Jobs is %d, want >= 0 (0: the workload's default)", c.Jobs)
	case c.Concurrency < 0:
		return c, fmt.Errorf("bench options: Concurrency is %d, want >= 0 (0: 100)", c.Concurrency)
	case c.BatchSize < 0:
		return c, fmt.Errorf("bench options: BatchSize is %d, want >= 0 (0: 1,000)", c.BatchSize)
	case c.Rate < 0:
		return c, fmt.Errorf("bench options: Rate is %d, want >= 0 (0: 1,000)", c.Rate)
	case c.StallTimeout < 0:
		return c, fmt.Errorf("bench options: StallTimeout is %s, want >= 0 (0: 30s)", c.StallTimeout)
	case c.Duration < 0:
		return c, fmt.Errorf("bench options: Duration is %s, want >= 0 (0: 20s)", c.Duration)
	case c.Clients < 0:
		return c, fmt.Errorf("bench options: Clients is %d, want >= 0 (0: 64)", c.Clients)
	case w == HTTP && c.Handler == nil:
		return c, errors.New("bench options: Handler is nil: the http workload needs the handler to load")
	}
	if c.Jobs == 0 {
		c.Jobs = w.defaultJobs()
	}
	if c.Concurrency == 0 {
		c.Concurrency = 100
	}
	if c.Queue == "" {
		c.Queue = "bench"
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1_000
	}
	if c.Rate == 0 {
		c.Rate = 1_000
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = 30 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = 20 * time.Second
	}
	if c.Clients == 0 {
		c.Clients = 64
	}
	if c.Progress == nil {
		c.Progress = func(Progress) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Progress reports how far a phase has gone.
type Progress struct {
	Workload Workload
	Phase    string // "enqueue one by one", "enqueue in bulk", "drain", "end to end", "steady rate", "http load (seconds)"
	Done     int    // jobs enqueued (enqueue phases), started (the others), or seconds (the http load)
	Total    int
}

// Result is a workload's figures. A rate a workload does not measure is
// zero.
type Result struct {
	Workload    Workload `json:"workload"`
	Store       string   `json:"store,omitempty"` // Options.StoreName
	Jobs        int      `json:"jobs"`
	Concurrency int      `json:"concurrency"`

	// EnqueueOneRate is W1's jobs/s enqueued one per call.
	EnqueueOneRate float64 `json:"enqueue_one_per_sec,omitempty"`
	// EnqueueBulkRate is W1's jobs/s enqueued BatchSize per call.
	EnqueueBulkRate float64 `json:"enqueue_bulk_per_sec,omitempty"`
	// DrainRate is jobs/s completed by a worker started on a full queue
	// (W1: the jobs of both enqueue phases; W2: the sleeping jobs).
	DrainRate float64 `json:"drain_per_sec,omitempty"`
	// EndToEndRate is jobs/s from the first enqueue to the last
	// completion while the worker runs (W1 in batches of 100; W3 at the
	// steady rate).
	EndToEndRate float64 `json:"end_to_end_per_sec,omitempty"`

	// LatencyP50 and LatencyP99 are enqueue-to-start latencies (start
	// minus the job's RunAt). W1: of the end-to-end phase; W2: of the
	// drain, so they include the wait in the backlog; W3: at the steady
	// rate.
	LatencyP50 time.Duration `json:"-"`
	LatencyP99 time.Duration `json:"-"`
	// PeakRSS is the process's peak resident set size during the
	// workload in bytes (since the process started where the peak cannot
	// be reset); zero when unknown.
	PeakRSS int64 `json:"peak_rss_bytes"`
	// Elapsed is the workload's duration, its set-up and cleanup included.
	Elapsed time.Duration `json:"-"`

	// The HTTP workload's figures (Jobs is the count of accepted jobs).

	// Clients is how many clients posted at once.
	Clients int `json:"clients,omitempty"`
	// LoadDuration is how long the clients posted.
	LoadDuration time.Duration `json:"-"`
	// AcceptedRate is accepted jobs (201 answers) per second of load.
	AcceptedRate float64 `json:"accepted_per_sec,omitempty"`
	// Errors counts the requests not answered 201, and FirstError says
	// what the first one got.
	Errors     int    `json:"errors,omitempty"`
	FirstError string `json:"first_error,omitempty"`
	// RequestP50 and RequestP99 are the requests' latencies, from the
	// client's send to the end of the answer.
	RequestP50 time.Duration `json:"-"`
	RequestP99 time.Duration `json:"-"`
	// DoneAfterLoad is the time from the load's end until every accepted
	// job was completed.
	DoneAfterLoad time.Duration `json:"-"`
	// CPUPerJob is the process's CPU time (user and system, every
	// goroutine: server, worker, store, clients) from the load's start
	// until every job was done, per accepted job: a figure that does not
	// depend on how much of the machine others took (2 cores divided by it
	// is the most jobs/s the process could reach). Zero when unknown.
	CPUPerJob time.Duration `json:"-"`
	// IdleRSS is the process's resident set size with the server and the
	// worker started and idle, before the load (after returning the
	// memory of earlier workloads to the system).
	IdleRSS int64 `json:"idle_rss_bytes,omitempty"`
}

// resultJSON is Result's JSON form: durations in milliseconds.
type resultJSON struct {
	*resultAlias
	LatencyP50MS    float64 `json:"latency_p50_ms"`
	LatencyP99MS    float64 `json:"latency_p99_ms"`
	ElapsedS        float64 `json:"elapsed_s"`
	LoadS           float64 `json:"load_s,omitempty"`
	RequestP50MS    float64 `json:"request_p50_ms,omitempty"`
	RequestP99MS    float64 `json:"request_p99_ms,omitempty"`
	DoneAfterLoadMS float64 `json:"done_after_load_ms,omitempty"`
	CPUPerJobUS     float64 `json:"cpu_per_job_us,omitempty"`
}

type resultAlias Result

// MarshalJSON encodes the result with its durations in milliseconds
// (latencies) and seconds (elapsed).
func (r *Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{
		resultAlias:     (*resultAlias)(r),
		LatencyP50MS:    ms(r.LatencyP50),
		LatencyP99MS:    ms(r.LatencyP99),
		ElapsedS:        r.Elapsed.Seconds(),
		LoadS:           r.LoadDuration.Seconds(),
		RequestP50MS:    ms(r.RequestP50),
		RequestP99MS:    ms(r.RequestP99),
		DoneAfterLoadMS: ms(r.DoneAfterLoad),
		CPUPerJobUS:     float64(r.CPUPerJob.Nanoseconds()) / 1000,
	})
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Run runs workload w against s, whose schema must exist, and returns its
// figures. The jobs go to opts.Queue; opts may be nil.
func Run(ctx context.Context, s store.Store, w Workload, opts *Options) (*Result, error) {
	if s == nil {
		return nil, errors.New("bench: the store is nil")
	}
	if !known(w) {
		return nil, fmt.Errorf("bench: unknown workload %q", w)
	}
	o, err := opts.withDefaults(w)
	if err != nil {
		return nil, err
	}
	r, err := newRunner(s, w, o)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resetPeakRSS()
	res := &Result{Workload: w, Store: o.StoreName, Jobs: o.Jobs, Concurrency: o.Concurrency}
	switch w {
	case W1:
		err = r.queue(ctx, res)
	case W2:
		err = r.io(ctx, res)
	case W3:
		err = r.latency(ctx, res)
	case HTTP:
		res.Concurrency, res.Clients = o.Concurrency, o.Clients
		err = r.httpLoad(ctx, res)
	}
	if w != HTTP { // HTTP measures its peak from the load's start
		res.PeakRSS = peakRSS()
	}
	if o.Cleanup {
		// The jobs are deleted even when the workload failed or ctx was
		// cancelled (Ctrl-C), so a shared store is left clean.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		if cerr := r.cleanup(cctx); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	res.Elapsed = time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", w, err)
	}
	return res, nil
}
