package heroku_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/autoscale/heroku"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "01234567-89ab-cdef-0123-456789abcdef"

var t0 = time.Date(2025, 3, 7, 9, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeHeroku is an httptest fake of the formation endpoint. It checks
// every request like the real API would, and answers 429 to the next
// tooMany requests.
type fakeHeroku struct {
	t         *testing.T
	mu        sync.Mutex
	quantity  int
	tooMany   int
	remaining int
	requests  []string // "GET", "PATCH 3", ...
	srv       *httptest.Server
}

func newFake(t *testing.T, quantity int) *fakeHeroku {
	f := &fakeHeroku{t: t, quantity: quantity, remaining: 4500}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHeroku) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.t
	if r.URL.Path != "/apps/my-app/formation/worker" {
		t.Errorf("path %q, want /apps/my-app/formation/worker", r.URL.Path)
		http.Error(w, `{"id":"not_found","message":"Couldn't find that formation."}`, http.StatusNotFound)
		return
	}
	if got := r.Header.Get("Accept"); got != "application/vnd.heroku+json; version=3" {
		t.Errorf("Accept %q", got)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization %q", got)
	}
	entry := r.Method
	switch r.Method {
	case http.MethodGet:
	case http.MethodPatch:
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("PATCH Content-Type %q", ct)
		}
		body, _ := io.ReadAll(r.Body)
		var req map[string]any
		if err := json.Unmarshal(body, &req); err != nil || len(req) != 1 {
			t.Errorf("PATCH body %s: want exactly {\"quantity\": N}", body)
		}
		q, ok := req["quantity"].(float64)
		if !ok {
			t.Errorf("PATCH body %s: no numeric quantity", body)
		}
		entry = fmt.Sprintf("PATCH %d", int(q))
		if f.tooMany == 0 {
			f.quantity = int(q)
		}
	default:
		t.Errorf("method %s", r.Method)
	}
	f.requests = append(f.requests, entry)
	f.remaining--
	w.Header().Set("RateLimit-Remaining", fmt.Sprint(f.remaining))
	w.Header().Set("Content-Type", "application/json")
	if f.tooMany > 0 {
		f.tooMany--
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"id":"rate_limit","message":"Your account reached the API rate limit"}`)
		return
	}
	fmt.Fprintf(w, `{"app":{"name":"my-app"},"command":"bin/worker","type":"worker","quantity":%d,"size":"Standard-1X"}`, f.quantity)
}

func (f *fakeHeroku) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

func (f *fakeHeroku) set(fn func(f *fakeHeroku)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func newTarget(t *testing.T, f *fakeHeroku, c *clock) *heroku.Target {
	t.Helper()
	tg, err := heroku.New(heroku.Options{App: "my-app", Token: token, BaseURL: f.srv.URL, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestCurrentIsCachedForAMinute(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 2), &clock{now: t0}
	tg := newTarget(t, f, c)
	ctx := t.Context()
	for range 3 {
		if n, err := tg.Current(ctx); err != nil || n != 2 {
			t.Fatalf("Current: %d, %v", n, err)
		}
		c.Add(20 * time.Second)
	}
	if got := f.log(); len(got) != 1 {
		t.Fatalf("requests %v, want one GET within a minute", got)
	}
	f.set(func(f *fakeHeroku) { f.quantity = 7 }) // someone scaled by hand
	if n, _ := tg.Current(ctx); n != 7 {
		t.Fatalf("after a minute: %d, want the new 7", n)
	}
	// A change updates the cache without a GET.
	if err := tg.Set(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if n, _ := tg.Current(ctx); n != 4 {
		t.Fatalf("after Set(4): %d", n)
	}
	if got, want := strings.Join(f.log(), ","), "GET,GET,PATCH 4"; got != want {
		t.Fatalf("requests %s, want %s", got, want)
	}
}

// TestSetBacksOffAfter429: the API answers 429 once. The change fails
// with a RateLimitError, no request is made before the backoff ends, and
// the retry succeeds.
func TestSetBacksOffAfter429(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 1), &clock{now: t0}
	tg := newTarget(t, f, c)
	ctx := t.Context()
	f.set(func(f *fakeHeroku) { f.tooMany = 1 })
	err := tg.Set(ctx, 3)
	var rl *heroku.RateLimitError
	if !errors.As(err, &rl) || !rl.RetryAt.Equal(t0.Add(heroku.DefaultBackoff)) {
		t.Fatalf("after a 429: %v, want a RateLimitError until t0+%s", err, heroku.DefaultBackoff)
	}
	c.Add(heroku.DefaultBackoff - time.Second)
	if err := tg.Set(ctx, 3); !errors.As(err, &rl) {
		t.Fatalf("within the backoff: %v", err)
	}
	if got := f.log(); len(got) != 1 {
		t.Fatalf("requests %v: a request was made within the backoff", got)
	}
	c.Add(time.Second)
	if err := tg.Set(ctx, 3); err != nil {
		t.Fatalf("after the backoff: %v", err)
	}
	if got, want := strings.Join(f.log(), ","), "PATCH 3,PATCH 3"; got != want {
		t.Fatalf("requests %s, want %s", got, want)
	}
	if strings.Contains(err.Error(), token) {
		t.Fatal("the error shows the token")
	}
}

// TestBackoffDoubles: 429s in a row wait longer each time.
func TestBackoffDoubles(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 1), &clock{now: t0}
	tg := newTarget(t, f, c)
	f.set(func(f *fakeHeroku) { f.tooMany = 3 })
	var waits []time.Duration
	for range 3 {
		var rl *heroku.RateLimitError
		if err := tg.Set(t.Context(), 2); !errors.As(err, &rl) {
			t.Fatalf("Set: %v", err)
		}
		waits = append(waits, rl.RetryAt.Sub(c.Now()))
		c.now = rl.RetryAt
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	if err := tg.Set(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
}

// TestLowRemainingSpacesRequests: when RateLimit-Remaining falls below
// LowRemaining, requests are spaced by LowGap; Current answers from the
// last known count meanwhile.
func TestLowRemainingSpacesRequests(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 5), &clock{now: t0}
	f.set(func(f *fakeHeroku) { f.remaining = 50 })
	tg, err := heroku.New(heroku.Options{App: "my-app", Token: token, BaseURL: f.srv.URL, Now: c.Now,
		LowGap: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if n, err := tg.Current(ctx); err != nil || n != 5 {
		t.Fatalf("Current: %d, %v", n, err)
	}
	c.Add(5 * time.Second)
	var rl *heroku.RateLimitError
	if err := tg.Set(ctx, 6); !errors.As(err, &rl) || !strings.Contains(rl.Reason, "49 API tokens left") {
		t.Fatalf("Set 5 s after a request with 49 tokens left: %v", err)
	}
	c.Add(5 * time.Minute) // the gap has passed
	if err := tg.Set(ctx, 6); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute + 5*time.Second) // stale cache, within the gap: the cache answers
	if n, err := tg.Current(ctx); err != nil || n != 6 {
		t.Fatalf("Current within the gap: %d, %v", n, err)
	}
	if got, want := strings.Join(f.log(), ","), "GET,PATCH 6"; got != want {
		t.Fatalf("requests %s, want %s", got, want)
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/apps/gone/formation/worker":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"id":"not_found","message":"Couldn't find that app."}`)
		case "/apps/odd/formation/worker":
			fmt.Fprint(w, `{"type":"worker"}`)
		default:
			fmt.Fprint(w, `not json`)
		}
	}))
	defer srv.Close()
	for app, want := range map[string]string{
		"gone":   "GET /apps/gone/formation/worker: 404 Not Found: not_found: Couldn't find that app.",
		"odd":    "no quantity",
		"broken": "decoding the formation",
	} {
		tg, err := heroku.New(heroku.Options{App: app, Token: token, BaseURL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tg.Current(t.Context())
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), token) {
			t.Errorf("%s: %v, want %q (and no token)", app, err, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		opts heroku.Options
		want string
	}{
		{heroku.Options{Token: token}, "App"},
		{heroku.Options{App: "a"}, "Token"},
		{heroku.Options{App: "a", Token: token, BaseURL: "ftp://x"}, "BaseURL"},
		{heroku.Options{App: "a", Token: token, CacheFor: -time.Second}, "negative"},
	} {
		if _, err := heroku.New(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.opts, err, c.want)
		}
	}
}

// TestScalerThroughHerokuLosesNoDecision runs the autoscaler against the
// fake: the scale-up meets a 429, is decided again at the next tick after
// the backoff, and lands.
func TestScalerThroughHerokuLosesNoDecision(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, 1), &clock{now: t0}
	tg := newTarget(t, f, c)
	if _, err := tg.Current(t.Context()); err != nil { // cached for the ticks below
		t.Fatal(err)
	}
	f.set(func(f *fakeHeroku) { f.tooMany = 1 })
	src := sourceFunc(func(context.Context) (autoscale.Metric, error) {
		return autoscale.Metric{Backlog: 450, ReadAt: c.Now()}, nil
	})
	sc, err := autoscale.NewScaler(autoscale.ScalerConfig{
		Policy: autoscale.Options{Min: 1, Max: 10, JobsPerWorker: 100},
		Source: src, Target: tg, Now: c.Now,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	d := sc.Tick(t.Context())
	if d.Action != autoscale.ActionUp || !strings.Contains(d.ApplyError, "429") {
		t.Fatalf("first tick: %+v", d)
	}
	c.Add(heroku.DefaultBackoff) // the next tick (30 s) would come later still
	d = sc.Tick(t.Context())
	if d.Action != autoscale.ActionUp || d.ApplyError != "" || d.Desired != 5 {
		t.Fatalf("second tick: %+v", d)
	}
	if got, want := strings.Join(f.log(), ","), "GET,PATCH 5,PATCH 5"; got != want {
		t.Fatalf("requests %s, want %s", got, want)
	}
}

type sourceFunc func(context.Context) (autoscale.Metric, error)

func (f sourceFunc) Backlog(ctx context.Context) (autoscale.Metric, error) { return f(ctx) }
