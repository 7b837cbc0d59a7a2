package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/dashboard"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/httpserve"
	"github.com/doubleboiler/boiler/store"
)

// Environment variables of `boiler serve` and `boiler demo`.
const (
	envDashboardPassword = "BOILER_DASHBOARD_PASSWORD"
	envAPIToken          = "BOILER_API_TOKEN"
	envSecret            = "BOILER_SECRET"
	envPort              = "PORT"
)

// defaultWebAddr is where the API and the dashboard listen without
// --addr: every interface on $PORT when the platform sets it, else the
// loopback address.
func defaultWebAddr(getenv func(string) string) string {
	if p := getenv(envPort); p != "" {
		return ":" + p
	}
	return "127.0.0.1:5000"
}

// webAuth are the credentials of the API and the dashboard, from the
// environment.
type webAuth struct {
	password string // basic auth for people; "" when unset
	token    string // bearer token for programs; "" when unset
	secret   []byte // signs the CSRF tokens
	// randomSecret is set when BOILER_SECRET was unset and secret is
	// random: the CSRF tokens change at every start.
	randomSecret bool
}

// loadWebAuth reads the credentials with getenv. Without BOILER_SECRET,
// the secret is random.
func loadWebAuth(getenv func(string) string) (webAuth, error) {
	a := webAuth{password: getenv(envDashboardPassword), token: getenv(envAPIToken)}
	if s := getenv(envSecret); s != "" {
		if len(s) < 16 {
			return a, fmt.Errorf("%s is %d characters long, want at least 16 (a long random string, e.g. openssl rand -hex 32)", envSecret, len(s))
		}
		a.secret = []byte(s)
		return a, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return a, fmt.Errorf("making a random secret: %w", err)
	}
	a.secret, a.randomSecret = []byte(hex.EncodeToString(b)), true
	return a, nil
}

// secretWarning is the warning printed when the secret is random.
const secretWarning = envSecret + " is not set: using a random secret, so the dashboard's CSRF tokens change " +
	"at every restart (reload open pages after one); set " + envSecret + " to a long random string to keep them"

// checkListenAddr refuses an address reachable from other machines when
// neither a password nor a token protects the server, and says why.
func checkListenAddr(addr string, auth webAuth) error {
	if auth.password != "" || auth.token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port (e.g. 127.0.0.1:5000): %w", addr, err)
	}
	if isLoopback(host) {
		return nil
	}
	shown := host
	if shown == "" {
		shown = "every interface"
	}
	return fmt.Errorf("refusing to listen on %s (%s) without authentication: anyone who can reach it could "+
		"read your jobs' arguments and enqueue, retry, cancel or delete jobs. Set %s (basic auth for people) "+
		"and/or %s (bearer token for programs), or listen on a loopback address such as 127.0.0.1:5000",
		addr, shown, envDashboardPassword, envAPIToken)
}

// isLoopback reports whether host names only this machine: localhost or
// a loopback IP. An empty host, 0.0.0.0 and :: are every interface.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// listenWeb checks addr against auth and listens on it. It returns the
// listener and the URL to print (port 0 resolved; every interface shown
// as localhost).
func listenWeb(ctx context.Context, addr string, auth webAuth) (net.Listener, string, error) {
	if err := checkListenAddr(addr, auth); err != nil {
		return nil, "", err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listening on %s: %w", addr, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return ln, "http://" + net.JoinHostPort(host, port), nil
}

// serveWeb serves h on ln through httpserve until ctx ends (SIGTERM,
// Ctrl-C), then shuts down gracefully.
func serveWeb(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	return httpserve.Run(ctx, &httpserve.Options{Listener: ln, Handler: h, Logger: logger})
}

// warnSecret prints the random-secret warning when it applies.
func warnSecret(w io.Writer, auth webAuth) {
	if auth.randomSecret {
		fmt.Fprintln(w, "warning:", secretWarning)
	}
}

// serveFlags are the options of `boiler serve`.
type serveFlags struct {
	store *storeFlag
	addr  string
}

// newServeCmd builds `boiler serve`.
func newServeCmd() *cobra.Command { return newServeCmdEnv(os.Getenv) }

// newServeCmdEnv is newServeCmd reading the environment with getenv
// (tests pass their own).
func newServeCmdEnv(getenv func(string) string) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the JSON API and the dashboard",
		Long: "Serve answers the JSON API under /api/ (any language enqueues jobs over HTTP),\n" +
			"the dashboard at /, Prometheus metrics at /metrics and /healthz, until SIGTERM or\n" +
			"Ctrl-C. The schema is created if it is missing.\n\n" +
			"Authentication comes from the environment: " + envDashboardPassword + " (basic auth,\n" +
			"any user name, for people) and " + envAPIToken + " (Authorization: Bearer, for\n" +
			"programs). With neither, serve listens only on a loopback address. " + envSecret + "\n" +
			"signs the dashboard's CSRF tokens; without it a random one is made at each start.",
		Example: "  boiler serve --store postgres://localhost/app\n" +
			"  " + envDashboardPassword + "=s3cret boiler serve --addr 0.0.0.0:5000",
		Args: cobra.NoArgs,
	}
	f.store = addStoreFlag(cmd)
	f.store.getenv = getenv
	cmd.Flags().StringVar(&f.addr, "addr", "", "address to listen on (default :$PORT when PORT is set, else 127.0.0.1:5000)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) }
	return cmd
}

// runServe runs `boiler serve` until its context ends.
func runServe(cmd *cobra.Command, f *serveFlags) error {
	ctx := cmd.Context()
	getenv := f.store.getenv
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	auth, err := loadWebAuth(getenv)
	if err != nil {
		return err
	}
	ln, url, err := listenWeb(ctx, cmp.Or(f.addr, defaultWebAddr(getenv)), auth)
	if err != nil {
		return err
	}
	s, shown, err := f.store.open(ctx, true)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.Close()
	h, err := newWebHandler(&webOptions{store: s, auth: auth, logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	warnSecret(cmd.ErrOrStderr(), auth)
	fmt.Fprintf(cmd.OutOrStdout(), "boiler serve: dashboard %s/  ·  API %s/api/  ·  store %s\n", url, url, shown)
	return serveWeb(ctx, ln, h, logger)
}

// webOptions are what the web handler of serve and demo is built from.
type webOptions struct {
	store  store.Store
	auth   webAuth
	logger *slog.Logger
	// decisions, when set, are the autoscaler's (for the API and the
	// dashboard).
	decisions *autoscale.Ring
	// demoEvents, when set, is the demo's event stream: the handler then
	// serves the demo page at /demo and the stream at /demo/events.
	demoEvents http.Handler
}

// newWebHandler builds the server's routes: the JSON API (/api/,
// /metrics, /healthz), the dashboard (/) and, for the demo, its page and
// stream, all behind the same authentication.
func newWebHandler(o *webOptions) (http.Handler, error) {
	client, err := boiler.NewClient(o.store, nil)
	if err != nil {
		return nil, err
	}
	apiOpts := &httpapi.Options{
		Client:   client,
		Store:    o.store,
		Logger:   o.logger,
		Token:    o.auth.token,
		Password: o.auth.password,
		Secret:   o.auth.secret,
	}
	if o.decisions != nil {
		apiOpts.Decisions = o.decisions.Recent
	}
	api, err := httpapi.New(apiOpts)
	if err != nil {
		return nil, err
	}
	dash, err := dashboard.New(&dashboard.Options{
		CSRFToken: func(r *http.Request) string { return httpapi.CSRFTokenFor(o.auth.secret, r) },
		Demo:      o.demoEvents != nil,
	})
	if err != nil {
		return nil, err
	}
	auth := &httpapi.Auth{Token: o.auth.token, Password: o.auth.password, Secret: o.auth.secret}
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/metrics", api)
	mux.Handle("/healthz", api)
	if o.demoEvents != nil {
		mux.Handle("GET /demo/events", auth.Wrap(o.demoEvents))
	}
	mux.Handle("/", auth.Wrap(dash))
	return mux, nil
}
