// Package httpapi is boiler's JSON API: any language enqueues jobs over
// HTTP, and the dashboard reads queues and jobs and acts on them. Every
// route calls the public boiler.Client, never the store's SQL; all are
// mounted from one list (routes.go), each a typed unit with an Execute-like
// method from a request type to a response type.
//
//	POST   /api/jobs                  enqueue one job: 201 {"job":{...},"duplicate":false} (200 when duplicate)
//	POST   /api/jobs/batch            {"jobs":[...]}: all or nothing, 201 {"results":[...]}
//	GET    /api/jobs                  ?state=a,b&queue=&kind=&workflow=&cursor=&limit= → {"jobs":[...],"next_cursor":N}
//	GET    /api/jobs/{id}             the job, with every attempt's error (and dep_states: its dependencies' states)
//	POST   /api/jobs/{id}/retry       the job (409 while it runs)
//	POST   /api/jobs/{id}/cancel      the job
//	DELETE /api/jobs/{id}             the job as it was (409 while it runs)
//	GET    /api/queues                {"queues":[Queue...]}
//	POST   /api/queues/{name}/pause   the Queue; .../resume likewise
//	GET    /api/workers               {"workers":[Worker...]}: each worker's last heartbeat, running/concurrency, stale
//	GET    /api/periodic              {"periodic":[Periodic...]}: spec, job, catch-up, source, last and next tick
//	POST   /api/periodic              {"name","spec","kind","args",...}: create (201) or replace (200) one
//	DELETE /api/periodic/{name}       the periodic job as it was (jobs it enqueued stay)
//	GET    /api/processes             {"processes":[Process...]} (Options.Processes)
//	GET    /api/autoscale/decisions   {"decisions":[...]} (Options.Decisions)
//	GET    /api/events                server-sent "stats" events every EventInterval
//	GET    /metrics                   Prometheus text, from a registry of the API's own
//	GET    /healthz                   {"ok":true}, no auth
//
// A job's fields are store.Job's JSON; times are RFC 3339, durations
// milliseconds in fields ending _ms.
//
// # Auth
//
// With Options.Token set, programs send "Authorization: Bearer <token>";
// with Options.Password set, people use basic auth (any user name). With
// either set, a request with neither is 401. /healthz is always open.
// Under basic auth, a mutating request (POST, DELETE) needs the header
// X-CSRF-Token with the value of [CSRFTokenFor] for the request (the
// dashboard serves it in a meta tag); a missing or forged one is 403.
// Bearer requests need no CSRF token. Every mutating request from a
// browser must also be same-origin (http.CrossOriginProtection), which is
// what protects a server with no credentials (loopback only). Secrets are
// compared in constant time.
//
// # Errors
//
// Every error is JSON, {"error":{"status":400,"message":"..."}}, with the
// status in the response too: 400 bad input (the message names the field,
// or the offset of bad JSON), 401/403 auth, 404 unknown job or route, 409
// the job is running (or the periodic job is declared elsewhere), 413 body
// too large (1 MiB, 16 MiB for a batch), 415 not JSON, 500 the store
// failed, 501 the store does not support the feature yet.
package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/store"
)

// Options configure [New]. Only Client is required.
type Options struct {
	// Client is the job queue the API serves. Required.
	Client *boiler.Client
	// Store is the client's store, for what the Client does not offer:
	// the worker registry (/api/workers) and the states of a job's
	// dependencies. Default nil: /api/workers is an empty list with a
	// note, and a job's detail lacks its dependencies' states.
	Store Store
	// Logger receives a line per failed request (5xx). Default: discard.
	Logger *slog.Logger
	// Token, when set, lets programs in with "Authorization: Bearer
	// Token". Default "": no bearer auth.
	Token string
	// Password, when set, lets people in with basic auth (any user name)
	// and this password. Default "": no basic auth. With neither Token nor
	// Password, every request is let in (boiler serve only allows that on
	// a loopback address).
	Password string
	// Secret keys the CSRF tokens ([CSRFToken]); the dashboard must use
	// the same one. Default: 32 random bytes made by New, with a warning
	// logged (tokens then change at every start).
	Secret []byte
	// Processes lists the supervisor's processes for /api/processes and
	// the event stream. Default nil: an empty list with a note.
	Processes func(ctx context.Context) ([]Process, error)
	// Decisions returns the autoscaler's recent decisions for
	// /api/autoscale/decisions. Default nil: an empty list with a note.
	Decisions func() []autoscale.Decision
	// Clock gives the time for ages, uptimes and jobs/s. Default time.Now.
	Clock func() time.Time
	// EventInterval is the time between two "stats" events of
	// /api/events. Default 1s.
	EventInterval time.Duration
	// RateWindow is the window over which jobs_per_second is measured.
	// Default 10s.
	RateWindow time.Duration
	// WorkerStaleAfter is how old a worker's last heartbeat may be before
	// /api/workers marks it stale (and the event stream stops counting
	// it). Default 30s: three heartbeats of a worker with the default
	// 30 s lease.
	WorkerStaleAfter time.Duration
}

// Store is the part of a [store.Store] the API uses beside the Client.
// Every store.Store implements it.
type Store interface {
	JobGetMany(ctx context.Context, ids []int64) ([]*store.Job, error)
	WorkerList(ctx context.Context) ([]*store.WorkerInfo, error)
}

// withDefaults returns a copy of o with its zero fields filled, or an
// error naming the first bad field.
func (o *Options) withDefaults() (Options, error) {
	if o == nil {
		return Options{}, errors.New("httpapi options are nil: Client is required")
	}
	c := *o
	switch {
	case c.Client == nil:
		return c, errors.New("httpapi options: Client is nil")
	case c.EventInterval < 0:
		return c, errors.New("httpapi options: EventInterval is negative")
	case c.RateWindow < 0:
		return c, errors.New("httpapi options: RateWindow is negative")
	case c.WorkerStaleAfter < 0:
		return c, errors.New("httpapi options: WorkerStaleAfter is negative")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	c.EventInterval = cmp.Or(c.EventInterval, time.Second)
	c.RateWindow = cmp.Or(c.RateWindow, 10*time.Second)
	c.WorkerStaleAfter = cmp.Or(c.WorkerStaleAfter, defaultWorkerStaleAfter)
	if len(c.Secret) == 0 {
		c.Secret = make([]byte, 32)
		rand.Read(c.Secret)
		c.Logger.Warn("no secret given (BOILER_SECRET): CSRF tokens use a random one and change at every start")
	}
	return c, nil
}

// api is the handler's state, shared by its endpoints.
type api struct {
	opts    Options
	client  *boiler.Client
	log     *slog.Logger
	stats   *sampler
	metrics *metrics
	workerN counted // the event stream's worker count, shared by the streams
}

// New returns the API's handler: every route of routes.go behind the auth
// checks. It holds no goroutine: jobs/s is sampled when stats are read
// (by a request, a scrape or an event), so an idle API costs nothing.
func New(opts *Options) (http.Handler, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	a := &api{opts: o, client: o.Client, log: o.Logger}
	a.stats = newSampler(o.Client, o.Clock, o.RateWindow)
	reg := prometheus.NewRegistry()
	a.metrics = newMetrics(reg, a.stats)

	mux := http.NewServeMux()
	for _, rt := range a.routes() {
		mux.Handle(rt.pattern, a.metrics.instrument(rt.pattern, rt.handler))
	}
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "no route %s %s (see the API's route list)", r.Method, r.URL.Path))
	}))
	auth := &Auth{Token: o.Token, Password: o.Password, Secret: o.Secret}
	return auth.Wrap(mux), nil
}
