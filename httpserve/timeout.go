package httpserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Timeout returns h with a deadline of d on every request except streams
// (see below). The handler's context carries the deadline, so a handler
// that passes it to its queries stops at it. A request still running at
// the deadline whose response has not begun gets 503 with a body that
// says what happened and what to do, and logger gets a line naming the
// method and the path; whatever the handler writes afterwards is dropped
// (its Write returns http.ErrHandlerTimeout). A handler that has already
// begun its response cannot be replaced by a 503: its context is
// cancelled, the line is logged, and Timeout waits for it to return.
//
// Streams are exempt: a request whose Accept header contains
// text/event-stream gets no deadline, and under [Run] its context ends
// when the shutdown begins. Its writes go straight to the connection.
//
// Why not http.TimeoutHandler: it buffers the whole response until the
// handler returns, so server-sent events would never reach the client,
// and its ResponseWriter cannot flush. Timeout writes through instead,
// and guards only the moment the 503 is chosen.
//
// A nil logger discards the lines. d must be positive.
func Timeout(h http.Handler, d time.Duration, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &timeoutHandler{next: h, d: d, log: logger}
}

type timeoutHandler struct {
	next http.Handler
	d    time.Duration
	log  *slog.Logger
}

// errDeadline is the cause of a request context that reached its deadline.
var errDeadline = errors.New("request deadline reached")

// IsStream reports whether r asks for a stream of server-sent events,
// which [Timeout] exempts from its deadline.
func IsStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

func (t *timeoutHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if IsStream(r) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		if stopping := Stopping(ctx); stopping != nil {
			go func() {
				select {
				case <-stopping:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
		t.next.ServeHTTP(w, r.WithContext(ctx))
		return
	}

	ctx, cancel := context.WithTimeoutCause(r.Context(), t.d, errDeadline)
	defer cancel()
	tw := &timeoutWriter{w: w, h: make(http.Header), ctx: ctx}
	done := make(chan struct{})
	panicked := make(chan any, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				panicked <- p
			}
		}()
		t.next.ServeHTTP(tw, r.WithContext(ctx))
		close(done)
	}()
	finished := false
	select {
	case <-done:
		finished = true
	case p := <-panicked:
		panic(p)
	case <-ctx.Done():
	}

	tw.mu.Lock()
	if finished && tw.err == nil {
		tw.mu.Unlock()
		return // the handler's own response
	}
	if !errors.Is(context.Cause(ctx), errDeadline) {
		// The client went away: nobody reads a 503.
		tw.err = ctx.Err()
		tw.mu.Unlock()
		return
	}
	if !tw.wroteHeader {
		tw.err = http.ErrHandlerTimeout
		t.writeTimeout(w, r)
		tw.mu.Unlock()
		t.log.Warn("request timed out: answered 503", "method", r.Method, "path", r.URL.Path, "timeout", t.d.String())
		return
	}
	tw.mu.Unlock()
	t.log.Warn("request timed out after its response began: context cancelled, waiting for the handler",
		"method", r.Method, "path", r.URL.Path, "timeout", t.d.String())
	if finished {
		return
	}
	select {
	case <-done:
	case p := <-panicked:
		panic(p)
	}
}

// writeTimeout answers the 503, in JSON when the client asked for JSON.
func (t *timeoutHandler) writeTimeout(w http.ResponseWriter, r *http.Request) {
	msg := fmt.Sprintf("request took longer than %s: the platform's router gives up at 30s; "+
		"move slow work to a background job, or raise the server's RequestTimeout", t.d)
	w.Header().Set("Retry-After", "1")
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"status": http.StatusServiceUnavailable, "message": msg}})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprintln(w, msg)
}

// timeoutWriter writes through to w, and refuses writes once the request
// has timed out. Its own header map keeps the handler's header changes
// apart from the 503 until the handler writes its header.
type timeoutWriter struct {
	w   http.ResponseWriter
	h   http.Header     // until the header is written
	ctx context.Context // the handler's: once done, a response not begun is refused

	mu          sync.Mutex
	wroteHeader bool
	err         error // set when the request timed out or the client left
}

func (tw *timeoutWriter) Header() http.Header {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.wroteHeader {
		return tw.w.Header()
	}
	return tw.h
}

func (tw *timeoutWriter) WriteHeader(code int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.err == nil {
		tw.writeHeaderLocked(code)
	}
}

// writeHeaderLocked writes the header unless it is written; once the
// context is done, a response not yet begun is refused (sets err), so the
// 503 is not raced by a handler that writes as it sees its deadline.
func (tw *timeoutWriter) writeHeaderLocked(code int) {
	if tw.wroteHeader {
		return
	}
	if err := tw.ctx.Err(); err != nil {
		tw.err = err
		if errors.Is(context.Cause(tw.ctx), errDeadline) {
			tw.err = http.ErrHandlerTimeout
		}
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// Informational: the real header follows.
		tw.w.WriteHeader(code)
		return
	}
	tw.wroteHeader = true
	dst := tw.w.Header()
	for k, v := range tw.h {
		dst[k] = v
	}
	tw.w.WriteHeader(code)
}

func (tw *timeoutWriter) Write(b []byte) (int, error) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.err != nil {
		return 0, tw.err
	}
	tw.writeHeaderLocked(http.StatusOK)
	if tw.err != nil {
		return 0, tw.err
	}
	return tw.w.Write(b)
}

// Flush sends what was written so far (a handler may stream a long
// answer; its header is then written and the 503 no longer possible).
func (tw *timeoutWriter) Flush() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if tw.err != nil {
		return
	}
	tw.writeHeaderLocked(http.StatusOK)
	if tw.err == nil {
		_ = http.NewResponseController(tw.w).Flush()
	}
}

var _ http.Flusher = (*timeoutWriter)(nil)
