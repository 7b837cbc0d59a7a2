package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/postgres"
	"github.com/doubleboiler/boiler/store/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// bundle is one test's API on a fresh store.
type bundle struct {
	t       *testing.T
	store   store.Store
	client  *boiler.Client
	handler http.Handler
	clock   *clock
}

// openSQLite opens a migrated SQLite store in t's temp dir.
func openSQLite(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "boiler.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// setup builds the API on a fresh SQLite store; opts (may be nil) gets
// the client and the clock filled.
func setup(t *testing.T, opts *httpapi.Options) *bundle {
	t.Helper()
	return setupOn(t, openSQLite(t), opts)
}

func setupOn(t *testing.T, s store.Store, opts *httpapi.Options) *bundle {
	t.Helper()
	b := &bundle{t: t, store: s, clock: newClock()}
	client, err := boiler.NewClient(s, &boiler.ClientOptions{Clock: b.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	b.client = client
	if opts == nil {
		opts = &httpapi.Options{}
	}
	opts.Client = client
	if opts.Store == nil {
		opts.Store = s
	}
	if opts.Clock == nil {
		opts.Clock = b.clock.Now
	}
	if opts.Secret == nil {
		opts.Secret = []byte("test secret")
	}
	b.handler, err = httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// response is a recorded answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r *response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return v
}

// Decode decodes the body into v.
func (r *response) Decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.Body, err)
	}
}

// ErrorMessage returns error.message, checking the error shape.
func (r *response) ErrorMessage(t *testing.T) string {
	t.Helper()
	var v struct {
		Error struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		} `json:"error"`
	}
	r.Decode(t, &v)
	if v.Error.Status != r.Status || v.Error.Message == "" {
		t.Fatalf("error body %s does not match status %d", r.Body, r.Status)
	}
	return v.Error.Message
}

// do sends a request; a non-empty body is sent as JSON. hdr are header
// name, value pairs.
func (b *bundle) do(method, path, body string, hdr ...string) *response {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return &response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// want fails t unless r has status.
func (r *response) want(t *testing.T, status int) *response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	return r
}

// jobOf decodes a body that is a job.
func jobOf(t *testing.T, r *response) *store.Job {
	t.Helper()
	var j store.Job
	r.Decode(t, &j)
	return &j
}

// enqueued decodes a POST /api/jobs answer.
func enqueued(t *testing.T, r *response) (*store.Job, bool) {
	t.Helper()
	var v struct {
		Job       *store.Job `json:"job"`
		Duplicate bool       `json:"duplicate"`
	}
	r.Decode(t, &v)
	if v.Job == nil || v.Job.ID == 0 {
		t.Fatalf("no job in %s", r.Body)
	}
	return v.Job, v.Duplicate
}

// fetch leases the next job of queue to owner "test", as a worker would.
func (b *bundle) fetch(queue string) *store.Job {
	b.t.Helper()
	now := b.clock.Now()
	jobs, err := b.store.JobFetch(context.Background(), &store.JobFetchParams{
		Queues: []string{queue}, Limit: 1, Owner: "test", Now: now, LeaseExpiresAt: now.Add(time.Minute),
	})
	if err != nil || len(jobs) != 1 {
		b.t.Fatalf("fetching a job of %s: %v, %d jobs", queue, err, len(jobs))
	}
	return jobs[0]
}

// finish moves a fetched job to state, as a worker would.
func (b *bundle) finish(j *store.Job, state store.State, errMsg string) {
	b.t.Helper()
	p := &store.JobSetStateParams{ID: j.ID, Owner: "test", Attempt: j.Attempt, State: state, Now: b.clock.Now()}
	if errMsg != "" {
		p.Error = &store.AttemptError{Attempt: j.Attempt, At: p.Now, Error: errMsg}
	}
	ok, err := b.store.JobSetStateIfRunningMany(context.Background(), []*store.JobSetStateParams{p})
	if err != nil || !ok[0] {
		b.t.Fatalf("setting job %d %s: %v %v", j.ID, state, err, ok)
	}
}

// postgresURL is the test server's URL.
func postgresURL() string {
	if u := os.Getenv("BOILER_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// openPostgres opens a migrated PostgreSQL store in a random schema
// dropped at the end, skipping (or failing under
// BOILER_TEST_REQUIRE_SERVICES=1) when the server is unreachable.
func openPostgres(t testing.TB) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, postgresURL())
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		if os.Getenv("BOILER_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PostgreSQL (BOILER_TEST_POSTGRES_URL) is required: %v", err)
		}
		t.Skipf("PostgreSQL unreachable (set BOILER_TEST_POSTGRES_URL; BOILER_TEST_REQUIRE_SERVICES=1 fails instead): %v", err)
	}
	rb := make([]byte, 6)
	rand.Read(rb)
	schema := "boiler_httpapi_" + hex.EncodeToString(rb)
	s, err := postgres.Open(context.Background(), postgresURL(), &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, postgresURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// jsonBody marshals v.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
