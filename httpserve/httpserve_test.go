package httpserve_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/httpserve"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuffer is a goroutine-safe buffer for a test logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func TestTimeoutAnswers503AtTheDeadlineAndLogsThePath(t *testing.T) {
	t.Parallel()
	logger, logs := newLogger()
	writeErr := make(chan error, 1)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); !ok {
			t.Error("the handler's context has no deadline")
		}
		<-r.Context().Done() // a well-behaved handler stops at the deadline
		_, err := w.Write([]byte("too late"))
		writeErr <- err
	})
	h := httpserve.Timeout(slow, 50*time.Millisecond, logger)

	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/reports/slow", nil))
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("answered after %s, before the 50ms deadline", took)
	}
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", rec.Code)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "request took longer than 50ms") || !strings.Contains(body, "router gives up at 30s") {
		t.Errorf("body %q does not explain the timeout", body)
	}
	if err := <-writeErr; !errors.Is(err, http.ErrHandlerTimeout) {
		t.Errorf("late write: %v, want http.ErrHandlerTimeout", err)
	}
	if strings.Contains(rec.Body.String(), "too late") {
		t.Errorf("the late write reached the client: %q", rec.Body.String())
	}
	line := logs.String()
	if !strings.Contains(line, "path=/reports/slow") || !strings.Contains(line, "method=POST") {
		t.Errorf("log %q does not name the method and path", line)
	}
}

func TestTimeoutAnswersJSONToJSONClients(t *testing.T) {
	t.Parallel()
	h := httpserve.Timeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}), 10*time.Millisecond, nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/x", nil)
	req.Header.Set("Accept", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Content-Type") != "application/json" ||
		!strings.Contains(rec.Body.String(), `"status":503`) {
		t.Errorf("got %d %q %q, want a JSON 503", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}

func TestTimeoutPassesAFastResponseThrough(t *testing.T) {
	t.Parallel()
	h := httpserve.Timeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Kind", "fast")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	}), time.Second, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", nil))
	if rec.Code != 201 || rec.Header().Get("X-Kind") != "fast" || rec.Body.String() != "made" {
		t.Errorf("got %d %v %q", rec.Code, rec.Header(), rec.Body.String())
	}
}

func TestTimeoutKeepsABegunResponseAndCancelsItsContext(t *testing.T) {
	t.Parallel()
	logger, logs := newLogger()
	h := httpserve.Timeout(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial ")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		io.WriteString(w, "end")
	}), 20*time.Millisecond, logger)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/export", nil))
	if rec.Code != 200 || rec.Body.String() != "partial end" {
		t.Errorf("got %d %q, want the handler's own 200 and whole body", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "path=/export") {
		t.Errorf("log %q does not name the path", logs.String())
	}
}

func TestTimeoutPropagatesAPanic(t *testing.T) {
	t.Parallel()
	h := httpserve.Timeout(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), time.Second, nil)
	defer func() {
		if p := recover(); p != "boom" {
			t.Errorf("recovered %v, want the handler's panic", p)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

// serve runs Run on a fresh loopback listener and returns its URL, the
// cancel that starts the shutdown, and a function that waits for Run's
// result (it may be called more than once).
func serve(t *testing.T, opts *httpserve.Options) (string, context.CancelFunc, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpserve.Run(ctx, opts) }()
	wait := sync.OnceValue(func() error { return <-done })
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return "http://" + ln.Addr().String(), cancel, wait
}

func TestRunShutdownLetsAnInFlightRequestFinish(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	url, shutdown, wait := serve(t, &httpserve.Options{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release
			io.WriteString(w, "finished")
		}),
		ShutdownTimeout: 5 * time.Second,
	})
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/work")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	shutdown()
	returned := make(chan error, 1)
	go func() { returned <- wait() }()
	select {
	case err := <-returned:
		close(release)
		t.Fatalf("Run returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v; want it to finish", r.body, r.err)
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v, want a graceful nil", err)
	}
}

func TestRunDoesNotCutAStreamAndEndsItAtShutdown(t *testing.T) {
	t.Parallel()
	streamEnded := make(chan struct{})
	url, shutdown, wait := serve(t, &httpserve.Options{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer close(streamEnded)
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			for i := 0; ; i++ {
				io.WriteString(w, "event: tick\ndata: {}\n\n")
				if err := rc.Flush(); err != nil {
					return
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(30 * time.Millisecond):
				}
			}
		}),
		RequestTimeout:  50 * time.Millisecond,
		ShutdownTimeout: 10 * time.Second,
	})
	req, _ := http.NewRequest("GET", url+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	events := 0
	for events < 6 && sc.Scan() { // 6 events take ~150ms: three times the deadline
		if sc.Text() == "event: tick" {
			events++
		}
	}
	if events < 6 {
		t.Fatalf("stream ended after %d events and %s: %v", events, time.Since(start), sc.Err())
	}
	begin := time.Now()
	shutdown()
	<-streamEnded
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("shutdown took %s: the stream held it", took)
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts *httpserve.Options
		want string
	}{
		{nil, "Handler"},
		{&httpserve.Options{}, "Handler"},
		{&httpserve.Options{Handler: http.NotFoundHandler(), IdleTimeout: -1}, "IdleTimeout"},
	} {
		err := httpserve.Run(context.Background(), tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run(%+v) = %v, want an error naming %s", tc.opts, err, tc.want)
		}
	}
}

func TestRunReportsAListenError(t *testing.T) {
	t.Parallel()
	err := httpserve.Run(context.Background(), &httpserve.Options{Addr: "256.0.0.1:1", Handler: http.NotFoundHandler()})
	if err == nil || !strings.Contains(err.Error(), "256.0.0.1:1") {
		t.Errorf("Run = %v, want a listen error naming the address", err)
	}
}
