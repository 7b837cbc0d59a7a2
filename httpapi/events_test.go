package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/httpserve"
	"github.com/doubleboiler/boiler/store"
)

func TestEventsStreamStatsUntilTheClientGoes(t *testing.T) {
	t.Parallel()
	b := setup(t, &httpapi.Options{EventInterval: 20 * time.Millisecond, Clock: time.Now})
	b.do("POST", "/api/jobs", `{"kind":"x","queue":"mail"}`).want(t, 201)
	srv := httptest.NewServer(b.handler)
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/api/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	events := 0
	var last struct {
		Queues        []httpapi.Queue   `json:"queues"`
		JobsPerSecond *float64          `json:"jobs_per_second"`
		Processes     []httpapi.Process `json:"processes"`
	}
	for events < 3 && sc.Scan() {
		if sc.Text() != "event: stats" {
			continue
		}
		if !sc.Scan() {
			break
		}
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			t.Fatalf("event line %q is not data", sc.Text())
		}
		if err := json.Unmarshal([]byte(data), &last); err != nil {
			t.Fatalf("stats data %q: %v", data, err)
		}
		events++
	}
	if events < 3 {
		t.Fatalf("%d stats events, want 3: %v", events, sc.Err())
	}
	if len(last.Queues) != 1 || last.Queues[0].Name != "mail" || last.Queues[0].Counts[store.StateAvailable] != 1 ||
		last.JobsPerSecond == nil || last.Processes == nil {
		t.Fatalf("stats event: %+v", last)
	}
	resp.Body.Close()
	// The handler returns when the client goes: srv.Close waits for it,
	// and goleak checks nothing is left.
	srv.Close()
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.do("POST", "/api/jobs/batch", `{"jobs":[{"kind":"a"},{"kind":"a"},{"kind":"b","queue":"low"}]}`).want(t, 201)
	b.fetch("low")
	r := b.do("GET", "/metrics", "").want(t, 200)
	text := string(r.Body)
	for _, want := range []string{
		`boiler_queue_jobs{queue="default",state="available"} 2`,
		`boiler_queue_jobs{queue="low",state="running"} 1`,
		`boiler_queue_jobs{queue="low",state="completed"} 0`,
		`boiler_queue_paused{queue="default"} 0`,
		`boiler_queue_oldest_available_age_seconds{queue="default"} 0`,
		`boiler_queue_jobs_per_second{queue="low"} 0`,
		`boiler_http_requests_total{code="201",method="post",route="POST /api/jobs/batch"} 1`,
		`boiler_http_request_duration_seconds_count{method="post",route="POST /api/jobs/batch"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The stream is not cut by httpserve's request deadline, and the server's
// shutdown ends it.
func TestEventsUnderHTTPServeOutliveTheRequestDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t, &httpapi.Options{EventInterval: 20 * time.Millisecond, Clock: time.Now})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, shutdown := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- httpserve.Run(ctx, &httpserve.Options{Listener: ln, Handler: b.handler, RequestTimeout: 30 * time.Millisecond})
	}()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	start, events := time.Now(), 0
	for events < 6 && sc.Scan() {
		if sc.Text() == "event: stats" {
			events++
		}
	}
	if events < 6 || time.Since(start) < 60*time.Millisecond {
		t.Fatalf("%d events in %s: want 6, past twice the 30ms deadline (%v)", events, time.Since(start), sc.Err())
	}
	shutdown()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v (the stream held the shutdown?)", err)
	}
}
