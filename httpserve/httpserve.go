// Package httpserve runs an HTTP server the way a small container on a
// platform such as Heroku, Render or Fly needs it: header-read and idle
// timeouts, a per-request deadline below the platform router's (25 s
// against Heroku's 30 s) that answers 503 with a clear body and logs the
// path, and a graceful shutdown when the context ends (SIGTERM).
//
// Go apps use it for their own web process; boiler's API, dashboard and
// demo use it too:
//
//	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
//	defer stop()
//	err := httpserve.Run(ctx, &httpserve.Options{Addr: ":" + os.Getenv("PORT"), Handler: mux})
//
// # Streams
//
// A request that asks for server-sent events (its Accept header contains
// text/event-stream) is a stream: it is exempt from the request deadline
// (a stream is meant to outlive it) and its context ends as soon as a
// shutdown begins, so an open dashboard does not hold the shutdown for
// the whole ShutdownTimeout. See [Timeout] for why http.TimeoutHandler is
// not used.
package httpserve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Defaults of Options.
const (
	// DefaultRequestTimeout is below Heroku's 30 s router timeout, so the
	// app answers (and logs) before the router gives up with its own
	// opaque error.
	DefaultRequestTimeout = 25 * time.Second
	// DefaultReadHeaderTimeout bounds how long a client may take to send
	// its headers (slowloris).
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultIdleTimeout is how long a kept-alive connection may idle.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultShutdownTimeout leaves in-flight requests time to finish
	// inside Heroku's 30 s between SIGTERM and SIGKILL.
	DefaultShutdownTimeout = 25 * time.Second
)

// Options configure [Run]. Zero fields take their defaults.
type Options struct {
	// Addr is the address to listen on, "host:port". Default ":8080";
	// ignored when Listener is set.
	Addr string
	// Listener, when set, is served instead of listening on Addr (tests
	// pass one on port 0). Run closes it.
	Listener net.Listener
	// Handler serves the requests. Required.
	Handler http.Handler
	// RequestTimeout is each request's deadline (see [Timeout]). Default
	// 25s; negative: no deadline.
	RequestTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers. Default 5s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds a kept-alive connection's idle time. Default 120s.
	IdleTimeout time.Duration
	// ShutdownTimeout is how long a shutdown waits for in-flight requests
	// before closing their connections. Default 25s.
	ShutdownTimeout time.Duration
	// Logger receives the server's lines (listening, timeouts, shutdown).
	// Default: discard.
	Logger *slog.Logger
}

// withDefaults returns a copy of o with its zero fields filled, or an
// error naming the first bad field.
func (o *Options) withDefaults() (Options, error) {
	if o == nil {
		return Options{}, errors.New("httpserve options are nil: Handler is required")
	}
	c := *o
	if c.Handler == nil {
		return c, errors.New("httpserve options: Handler is nil")
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"ReadHeaderTimeout", c.ReadHeaderTimeout}, {"IdleTimeout", c.IdleTimeout}, {"ShutdownTimeout", c.ShutdownTimeout}} {
		if f.d < 0 {
			return c, fmt.Errorf("httpserve options: %s is %s, want >= 0 (0: the default)", f.name, f.d)
		}
	}
	c.Addr = cmp.Or(c.Addr, ":8080")
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Run serves opts.Handler until ctx ends, then shuts down gracefully: it
// stops accepting connections, ends streams, and waits up to
// ShutdownTimeout for in-flight requests before closing what remains.
// It returns nil after a graceful shutdown, or the error that stopped the
// server (a listen error, or "shutdown timed out").
func Run(ctx context.Context, opts *Options) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	ln := o.Listener
	if ln == nil {
		var lc net.ListenConfig
		ln, err = lc.Listen(ctx, "tcp", o.Addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", o.Addr, err)
		}
	}
	h := o.Handler
	if o.RequestTimeout > 0 {
		h = Timeout(h, o.RequestTimeout, o.Logger)
	}
	// stopping ends when a shutdown begins; streams watch it (see the
	// package doc). It is not the parent of request contexts, so ordinary
	// in-flight requests run on during the shutdown.
	stopping, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.WithoutCancel(ctx), stoppingKey{}, stopping)
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	o.Logger.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	o.Logger.Info("shutting down: finishing in-flight requests", "timeout", o.ShutdownTimeout.String())
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served // http.ErrServerClosed
	if err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still running after %s were cut: %w", o.ShutdownTimeout, err)
	}
	o.Logger.Info("shut down")
	return nil
}

// stoppingKey is the context key of the context that ends when the
// server's shutdown begins.
type stoppingKey struct{}

// Stopping returns a channel closed when the shutdown of the [Run] server
// serving ctx's request begins, or nil (never closed) outside Run. A
// long-running handler (a stream) selects on it to end early.
func Stopping(ctx context.Context) <-chan struct{} {
	if s, ok := ctx.Value(stoppingKey{}).(context.Context); ok {
		return s.Done()
	}
	return nil
}
