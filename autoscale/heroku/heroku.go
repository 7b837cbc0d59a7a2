// Package heroku scales a process type of a Heroku app through the
// Platform API's formation endpoint: GET and PATCH
// /apps/{app}/formation/{type}. It implements [autoscale.Target].
//
// The account's API tokens are shared with everything else its owner does
// (4,500, refilled at about 75 a minute), so the target spends few: it
// caches the current count (a minute by default), backs off after a 429
// (Retry-After when given, else doubling waits), and spaces its requests
// when the RateLimit-Remaining header runs low. A refused change returns an
// error; the autoscaler decides again at its next tick, so no decision is
// lost.
//
// Scaling down through the platform cannot choose which dynos stop: the
// API takes a count, and Heroku picks the dynos, busy or idle. Every
// process of a stopped dyno gets SIGTERM and, 30 seconds later, SIGKILL. A
// boiler worker stops fetching on SIGTERM, lets running jobs finish within
// its shutdown timeout (25 s, inside Heroku's 30) and hands the unfinished
// ones back without charging an attempt; a job killed by SIGKILL is
// rescued when its lease expires and runs again. Scaling inside the
// container (boiler start --autoscale) chooses the process itself (the
// highest-numbered instance) and its stop timeout (-t).
package heroku

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// The defaults of [Options].
const (
	DefaultBaseURL      = "https://api.heroku.com"
	DefaultProcess      = "worker"
	DefaultCacheFor     = time.Minute
	DefaultBackoff      = 10 * time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultLowRemaining = 100
	DefaultLowGap       = 30 * time.Second
	DefaultTimeout      = 30 * time.Second
)

// accept selects version 3 of the Platform API.
const accept = "application/vnd.heroku+json; version=3"

// Options configure a [Target]. Zero values take the default beside them.
type Options struct {
	// App is the Heroku app's name or id. Required.
	App string
	// Process is the process type to scale (a Procfile entry). Default
	// "worker".
	Process string
	// Token is the API key (HEROKU_API_KEY, or `heroku authorizations:create`).
	// Required. It is sent as a bearer token and never appears in errors.
	Token string
	// BaseURL is the API's address. Default https://api.heroku.com (tests
	// point it at a fake).
	BaseURL string
	// HTTPClient sends the requests. Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// CacheFor is how long Current answers from the last known count
	// without a request. Default 1 min.
	CacheFor time.Duration
	// Backoff is the wait after a 429 that has no Retry-After; it doubles
	// with each 429 in a row, up to MaxBackoff. Default 10 s.
	Backoff time.Duration
	// MaxBackoff bounds Backoff and Retry-After. Default 5 min.
	MaxBackoff time.Duration
	// LowRemaining is the RateLimit-Remaining below which the target spaces
	// its requests by LowGap. Default 100 (of 4,500).
	LowRemaining int
	// LowGap is the least time between two requests while tokens are low.
	// Default 30 s.
	LowGap time.Duration
	// UserAgent is sent with each request. Default "boiler-autoscale".
	UserAgent string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	o.Process = cmp.Or(o.Process, DefaultProcess)
	o.BaseURL = strings.TrimRight(cmp.Or(o.BaseURL, DefaultBaseURL), "/")
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	o.CacheFor = cmp.Or(o.CacheFor, DefaultCacheFor)
	o.Backoff = cmp.Or(o.Backoff, DefaultBackoff)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, DefaultMaxBackoff)
	o.LowRemaining = cmp.Or(o.LowRemaining, DefaultLowRemaining)
	o.LowGap = cmp.Or(o.LowGap, DefaultLowGap)
	o.UserAgent = cmp.Or(o.UserAgent, "boiler-autoscale")
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// validate names the first bad field of o (after withDefaults).
func (o Options) validate() error {
	switch {
	case strings.TrimSpace(o.App) == "":
		return errors.New("heroku target: App is empty, want the app's name")
	case o.Token == "":
		return errors.New("heroku target: Token is empty, want an API key (HEROKU_API_KEY)")
	case o.CacheFor < 0, o.Backoff < 0, o.MaxBackoff < 0, o.LowGap < 0:
		return errors.New("heroku target: CacheFor, Backoff, MaxBackoff and LowGap must not be negative")
	case o.LowRemaining < 0:
		return fmt.Errorf("heroku target: LowRemaining is %d, want 0 or more", o.LowRemaining)
	}
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("heroku target: BaseURL %q is not an http(s) URL", o.BaseURL)
	}
	return nil
}

// RateLimitError says the API is not called until RetryAt: it answered
// 429, or its tokens are low and the last request was too recent.
type RateLimitError struct {
	// RetryAt is when the target calls the API again.
	RetryAt time.Time
	// Reason says which limit applies.
	Reason string
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("heroku API rate limit: %s; next request at %s", e.Reason, e.RetryAt.Format(time.RFC3339))
}

// Target scales one process type of one app. It is safe for concurrent
// use; its requests are made one at a time.
type Target struct {
	opts Options
	path string // /apps/{app}/formation/{type}

	mu           sync.Mutex
	cached       int
	cachedAt     time.Time // zero: nothing cached
	blockedUntil time.Time // after a 429
	backoff      time.Duration
	lastRequest  time.Time
	remaining    int // the last RateLimit-Remaining; -1: unknown
}

// New returns a target for opts.
func New(opts Options) (*Target, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return &Target{
		opts:      opts,
		path:      "/apps/" + url.PathEscape(opts.App) + "/formation/" + url.PathEscape(opts.Process),
		remaining: -1,
	}, nil
}

// formation is the part of the API's formation object the target reads.
type formation struct {
	Quantity *int `json:"quantity"`
}

// Current implements [autoscale.Target]: the process type's quantity,
// from the cache when it is younger than CacheFor, or when the rate limit
// forbids a request and a count is known.
func (t *Target) Current(ctx context.Context) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	if !t.cachedAt.IsZero() && now.Sub(t.cachedAt) < t.opts.CacheFor {
		return t.cached, nil
	}
	if err := t.gate(now); err != nil {
		if !t.cachedAt.IsZero() {
			return t.cached, nil // the last known count beats none
		}
		return 0, err
	}
	f, err := t.do(ctx, http.MethodGet, nil)
	if err != nil {
		return 0, err
	}
	t.cached, t.cachedAt = *f.Quantity, t.opts.Now()
	return t.cached, nil
}

// Set implements [autoscale.Target]: PATCH the quantity to n.
func (t *Target) Set(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("heroku target: quantity %d is negative", n)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.gate(t.opts.Now()); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]int{"quantity": n})
	if err != nil {
		return err
	}
	f, err := t.do(ctx, http.MethodPatch, body)
	if err != nil {
		return err
	}
	t.cached, t.cachedAt = *f.Quantity, t.opts.Now()
	return nil
}

// gate returns a *RateLimitError when no request may be made at now.
func (t *Target) gate(now time.Time) error {
	if now.Before(t.blockedUntil) {
		return &RateLimitError{RetryAt: t.blockedUntil, Reason: "the API answered 429 Too Many Requests"}
	}
	if t.remaining >= 0 && t.remaining < t.opts.LowRemaining {
		if next := t.lastRequest.Add(t.opts.LowGap); now.Before(next) {
			return &RateLimitError{RetryAt: next,
				Reason: fmt.Sprintf("%d API tokens left (below %d), one request per %s", t.remaining, t.opts.LowRemaining, t.opts.LowGap)}
		}
	}
	return nil
}

// do sends one request to the formation endpoint and decodes the answer.
// Called with t.mu held.
func (t *Target) do(ctx context.Context, method string, body []byte) (*formation, error) {
	what := method + " " + t.path
	req, err := http.NewRequestWithContext(ctx, method, t.opts.BaseURL+t.path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("heroku API %s: %w", what, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("Authorization", "Bearer "+t.opts.Token)
	req.Header.Set("User-Agent", t.opts.UserAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	t.lastRequest = t.opts.Now()
	resp, err := t.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("heroku API %s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("heroku API %s: reading the answer: %w", what, err)
	}
	if r, err := strconv.Atoi(resp.Header.Get("RateLimit-Remaining")); err == nil {
		t.remaining = r
	}

	if resp.StatusCode == http.StatusTooManyRequests {
		wait := t.opts.Backoff
		if t.backoff > 0 {
			wait = t.backoff * 2
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			wait = time.Duration(s) * time.Second
		}
		t.backoff = min(wait, t.opts.MaxBackoff)
		t.blockedUntil = t.opts.Now().Add(t.backoff)
		return nil, &RateLimitError{RetryAt: t.blockedUntil, Reason: "the API answered 429 Too Many Requests"}
	}
	t.backoff = 0
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("heroku API %s: %s%s", what, resp.Status, apiMessage(data))
	}
	var f formation
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("heroku API %s: decoding the formation: %w", what, err)
	}
	if f.Quantity == nil {
		return nil, fmt.Errorf("heroku API %s: the formation has no quantity", what)
	}
	return &f, nil
}

// apiMessage returns ": id: message" from an API error body, or "".
func apiMessage(data []byte) string {
	var e struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &e) != nil || e.Message == "" {
		return ""
	}
	return fmt.Sprintf(": %s: %s", e.ID, e.Message)
}

var _ autoscale.Target = (*Target)(nil)
