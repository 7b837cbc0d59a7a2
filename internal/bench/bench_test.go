package bench

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openStore opens a fresh, migrated SQLite store closed at the test's end.
func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "bench.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// queueCounts returns queue's counts by state (nil when it has no jobs).
func queueCounts(t *testing.T, s store.Store, queue string) map[store.State]int64 {
	t.Helper()
	stats, err := s.QueueStats(context.Background(), &store.QueueStatsParams{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stats {
		if q.Name == queue {
			return q.Counts
		}
	}
	return nil
}

// checkResult checks the fields every workload fills.
func checkResult(t *testing.T, res *Result, w Workload, jobs int) {
	t.Helper()
	if res.Workload != w || res.Jobs != jobs || res.Concurrency != 20 {
		t.Errorf("result is for %s, %d jobs, concurrency %d; want %s, %d, 20", res.Workload, res.Jobs, res.Concurrency, w, jobs)
	}
	if res.LatencyP50 <= 0 || res.LatencyP50 > res.LatencyP99 {
		t.Errorf("latency p50 %s, p99 %s: want 0 < p50 <= p99", res.LatencyP50, res.LatencyP99)
	}
	if runtime.GOOS == "linux" && res.PeakRSS <= 0 {
		t.Errorf("peak RSS is %d, want a positive size on Linux", res.PeakRSS)
	}
	if res.Elapsed <= 0 {
		t.Errorf("elapsed is %s, want positive", res.Elapsed)
	}
}

func TestRunW1(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	var phases []string
	res, err := Run(context.Background(), s, W1, &Options{
		Jobs: 200, Concurrency: 20, BatchSize: 50, Queue: "w1",
		Progress: func(p Progress) {
			if p.Workload != W1 || p.Done > p.Total {
				t.Errorf("bad progress %+v", p)
			}
			if !slices.Contains(phases, p.Phase) {
				phases = append(phases, p.Phase)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, W1, 200)
	if res.EnqueueOneRate <= 0 || res.EnqueueBulkRate <= 0 || res.DrainRate <= 0 || res.EndToEndRate <= 0 {
		t.Errorf("W1 rates: one %v, bulk %v, drain %v, end to end %v; want all positive",
			res.EnqueueOneRate, res.EnqueueBulkRate, res.DrainRate, res.EndToEndRate)
	}
	// One-by-one, bulk and end to end each add Jobs.
	if got := queueCounts(t, s, "w1")[store.StateCompleted]; got != 600 {
		t.Errorf("W1 left %d completed jobs, want 600", got)
	}
	want := []string{"enqueue one by one", "enqueue in bulk", "drain", "end to end"}
	if !slices.Equal(phases, want) {
		t.Errorf("progress phases %q, want %q", phases, want)
	}
}

func TestRunW2(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	res, err := Run(context.Background(), s, W2, &Options{Jobs: 200, Concurrency: 20})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, W2, 200)
	if res.DrainRate <= 0 || res.EnqueueOneRate != 0 || res.EndToEndRate != 0 {
		t.Errorf("W2 rates: drain %v, one %v, end to end %v; want only drain", res.DrainRate, res.EnqueueOneRate, res.EndToEndRate)
	}
	// 200 jobs of 10 ms on 20 slots cannot take less than 100 ms.
	if ideal := 20 / 0.010; res.DrainRate > ideal {
		t.Errorf("W2 drained %v jobs/s, more than the ideal %v: the jobs did not sleep", res.DrainRate, ideal)
	}
	if got := queueCounts(t, s, "bench")[store.StateCompleted]; got != 200 {
		t.Errorf("W2 left %d completed jobs, want 200", got)
	}
}

func TestRunW3(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	// 500 jobs at 1,000 jobs/s: half a second.
	res, err := Run(context.Background(), s, W3, &Options{Jobs: 500, Concurrency: 20})
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, res, W3, 500)
	// The producer paces itself: job i is enqueued i ms after the
	// start, so the 500 jobs take at least 499 ms.
	if limit := 500 / 0.499; res.EndToEndRate <= 0 || res.EndToEndRate > limit {
		t.Errorf("W3 end to end %v jobs/s, want in (0, %v]", res.EndToEndRate, limit)
	}
	if got := queueCounts(t, s, "bench")[store.StateCompleted]; got != 500 {
		t.Errorf("W3 left %d completed jobs, want 500", got)
	}
}

// TestRunCleanupLeavesOtherQueues pins that a benchmark on a shared store
// deletes its own jobs and nothing else.
func TestRunCleanupLeavesOtherQueues(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := client.Enqueue(ctx, builtin.NoopArgs{I: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, s, W2, &Options{Jobs: 50, Concurrency: 20, Queue: "bench-x1", Cleanup: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.DrainRate <= 0 {
		t.Errorf("drain rate %v, want positive", res.DrainRate)
	}
	if counts := queueCounts(t, s, "bench-x1"); counts != nil {
		t.Errorf("the bench queue still has jobs after cleanup: %v", counts)
	}
	job, err := client.JobGet(ctx, mine.Job.ID)
	if err != nil {
		t.Fatalf("the user's job is gone: %v", err)
	}
	if job.State != store.StateAvailable {
		t.Errorf("the user's job is %s, want still available (the bench worker must serve only its queue)", job.State)
	}
}

func TestRunStalls(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx := context.Background()
	// Pausing the queue keeps the worker from fetching: the drain stalls.
	if err := s.QueuePause(ctx, "paused"); err != nil {
		t.Fatal(err)
	}
	_, err := Run(ctx, s, W2, &Options{Jobs: 10, Concurrency: 20, Queue: "paused", StallTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "stalled: 0 of 10 jobs started") {
		t.Fatalf("Run on a paused queue: error %v, want a stall", err)
	}
}

func TestRunBadOptions(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Jobs: -1}, "Jobs is -1"},
		{Options{Concurrency: -2}, "Concurrency is -2"},
		{Options{BatchSize: -3}, "BatchSize is -3"},
		{Options{Rate: -4}, "Rate is -4"},
		{Options{StallTimeout: -time.Second}, "StallTimeout is -1s"},
	} {
		if _, err := Run(context.Background(), s, W1, &tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Run with %+v: error %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
	if _, err := Run(context.Background(), s, "w9", nil); err == nil || !strings.Contains(err.Error(), `unknown workload "w9"`) {
		t.Errorf("Run(w9): error %v, want unknown workload", err)
	}
	if _, err := Run(context.Background(), nil, W1, nil); err == nil {
		t.Error("Run with a nil store succeeded")
	}
}

func TestParseWorkloads(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []Workload
	}{
		{"all", []Workload{W1, W2, W3}},
		{"ALL", []Workload{W1, W2, W3}},
		{"w2", []Workload{W2}},
		{"w3, W1,w3", []Workload{W3, W1}},
		{"http,w1", []Workload{HTTP, W1}},
	} {
		got, err := ParseWorkloads(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseWorkloads(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "w4", "w1,,w2"} {
		if _, err := ParseWorkloads(bad); err == nil || !strings.Contains(err.Error(), "want w1, w2, w3, http or all") {
			t.Errorf("ParseWorkloads(%q) error %v, want one listing the workloads", bad, err)
		}
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if got := percentile(d, 0.5); got != 100*time.Millisecond {
		t.Errorf("p50 of 1..200ms = %s, want 100ms", got)
	}
	if got := percentile(d, 0.99); got != 198*time.Millisecond {
		t.Errorf("p99 of 1..200ms = %s, want 198ms", got)
	}
	if got := percentile(d[:1], 0.99); got != time.Millisecond {
		t.Errorf("p99 of one value = %s, want it", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("p50 of nothing = %s, want 0", got)
	}
}

func TestParseVmHWM(t *testing.T) {
	t.Parallel()
	status := "Name:\tbench\nVmPeak:\t  999 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 100 kB\n"
	if got, ok := parseVmHWM([]byte(status)); !ok || got != 12345*1024 {
		t.Errorf("parseVmHWM = %d, %v; want %d", got, ok, 12345*1024)
	}
	if _, ok := parseVmHWM([]byte("VmHWM: lots\n")); ok {
		t.Error("parseVmHWM accepted a bad line")
	}
	if _, ok := parseVmHWM([]byte("Name: x\n")); ok {
		t.Error("parseVmHWM found a missing line")
	}
}

func TestResultJSON(t *testing.T) {
	t.Parallel()
	res := &Result{
		Workload: W3, Jobs: 10, Concurrency: 5, EndToEndRate: 999.5,
		LatencyP50: 1500 * time.Microsecond, LatencyP99: 12 * time.Millisecond,
		PeakRSS: 1 << 20, Elapsed: 2 * time.Second,
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"workload": "w3", "jobs": 10.0, "concurrency": 5.0, "end_to_end_per_sec": 999.5,
		"latency_p50_ms": 1.5, "latency_p99_ms": 12.0, "peak_rss_bytes": float64(1 << 20), "elapsed_s": 2.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("JSON %s = %v, want %v (all: %s)", k, got[k], v, b)
		}
	}
	if _, ok := got["drain_per_sec"]; ok {
		t.Errorf("JSON has drain_per_sec for a workload that does not measure it: %s", b)
	}
}

// apiHandler is the JSON API on s, as the http workload loads it (boiler
// serve adds the dashboard beside it).
func apiHandler(t *testing.T, s store.Store) http.Handler {
	t.Helper()
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(&httpapi.Options{Client: client, Store: s, Secret: []byte("bench test")})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRunHTTP(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	d := 2 * time.Second
	if v, err := time.ParseDuration(os.Getenv("BOILER_BENCH_HTTP_DURATION")); err == nil {
		d = v // a profile: BOILER_BENCH_HTTP_DURATION=20s go test -run TestRunHTTP -cpuprofile cpu.out
	}
	var seconds []int
	res, err := Run(context.Background(), s, HTTP, &Options{
		Handler: apiHandler(t, s), Duration: d, Clients: 8, Concurrency: 20, Queue: "web",
		Progress: func(p Progress) {
			if p.Workload != HTTP || p.Phase != loadPhase || p.Total != int(d/time.Second) {
				t.Errorf("bad progress %+v", p)
			}
			seconds = append(seconds, p.Done)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("http: %d jobs in %s (%.0f/s), request p50 %s p99 %s, all done %s after, CPU %s per job, idle RSS %d MB, peak %d MB",
		res.Jobs, res.LoadDuration, res.AcceptedRate, res.RequestP50, res.RequestP99, res.DoneAfterLoad, res.CPUPerJob, res.IdleRSS>>20, res.PeakRSS>>20)
	if res.Workload != HTTP || res.Clients != 8 || res.Concurrency != 20 || res.Jobs <= 0 || res.Errors != 0 || res.FirstError != "" {
		t.Errorf("result %+v: want 8 clients, concurrency 20, jobs accepted, no error", res)
	}
	if res.LoadDuration < d || res.AcceptedRate <= 0 || res.RequestP50 <= 0 || res.RequestP50 > res.RequestP99 ||
		res.LatencyP50 < 0 || res.LatencyP50 > res.LatencyP99 {
		t.Errorf("figures: load %s (want >= %s), rate %v, request p50 %s p99 %s, start p50 %s p99 %s",
			res.LoadDuration, d, res.AcceptedRate, res.RequestP50, res.RequestP99, res.LatencyP50, res.LatencyP99)
	}
	if runtime.GOOS == "linux" && (res.IdleRSS <= 0 || res.PeakRSS <= 0 || res.CPUPerJob <= 0) {
		t.Errorf("idle RSS %d, peak %d, CPU per job %s: want all measured on Linux", res.IdleRSS, res.PeakRSS, res.CPUPerJob)
	}
	// Every accepted job is done, and nothing else was enqueued.
	if got := queueCounts(t, s, "web")[store.StateCompleted]; got != int64(res.Jobs) {
		t.Errorf("the queue has %d completed jobs, want the %d accepted", got, res.Jobs)
	}
	if len(seconds) == 0 || seconds[len(seconds)-1] != int(d/time.Second) {
		t.Errorf("progress %v: want it to end at %d s", seconds, d/time.Second)
	}
}

func TestRunHTTPNeedsAHandler(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), openStore(t), HTTP, nil)
	if err == nil || !strings.Contains(err.Error(), "Handler is nil") {
		t.Fatalf("Run(http) without a handler: %v", err)
	}
}

// TestRunHTTPReportsFailedRequests loads a server that refuses every job:
// the run fails early, saying what the requests got.
func TestRunHTTPReportsFailedRequests(t *testing.T) {
	t.Parallel()
	refuse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		http.Error(w, "no", http.StatusTeapot)
	})
	_, err := Run(context.Background(), openStore(t), HTTP, &Options{Handler: refuse, Duration: 20 * time.Second, Clients: 2})
	if err == nil || !strings.Contains(err.Error(), "every request fails: POST /api/jobs answered 418") {
		t.Fatalf("Run(http) on a refusing server: %v", err)
	}
}

func TestHist(t *testing.T) {
	t.Parallel()
	var h hist
	if h.quantile(0.5) != 0 {
		t.Error("an empty histogram has a median")
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * 100 * time.Microsecond) // 0.1 ms .. 100 ms
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0.001, 100 * time.Microsecond}} {
		got := h.quantile(tc.q)
		if diff := math.Abs(float64(got-tc.want)) / float64(tc.want); diff > 0.02 {
			t.Errorf("quantile(%v) = %s, want %s within 2%%", tc.q, got, tc.want)
		}
	}
	if h.count() != 1000 {
		t.Errorf("count %d", h.count())
	}
	// Every value lands in a bucket whose range holds it.
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345} {
		i := bucket(v)
		if lo := lowest(i); lo > v || (i+1 < histBuckets && lowest(i+1) <= v) {
			t.Errorf("value %d in bucket %d [%d, %d)", v, i, lo, lowest(i+1))
		}
	}
}

// TestRawClient drives the load's lean client against net/http's server:
// plain and chunked answers, an unwanted status with its body, a server
// that closes the connection, and a broken connection reopened.
func TestRawClient(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
		mu.Unlock()
		switch r.URL.Path {
		case "/chunked":
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"a":`))
			w.(http.Flusher).Flush()
			w.Write([]byte(`1}`))
		case "/close":
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusCreated)
		case "/bad":
			http.Error(w, "no such kind", http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"job":{}}`))
		}
	}))
	defer srv.Close()
	c := &rawClient{addr: strings.TrimPrefix(srv.URL, "http://")}
	defer c.close()
	for _, path := range []string{"/api/jobs", "/chunked", "/api/jobs", "/close", "/api/jobs"} {
		if err := c.post(path, []byte(`{"kind":"noop"}`), http.StatusCreated); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
	}
	err := c.post("/bad", []byte(`{}`), http.StatusCreated)
	var es *errStatus
	if !errors.As(err, &es) || es.status != 400 || !strings.Contains(err.Error(), "answered 400 Bad Request: no such kind") {
		t.Fatalf("POST /bad: %v, want the status and the body", err)
	}
	c.conn.Close() // broken under the client's feet: the next post fails, the one after reconnects
	if err := c.post("/api/jobs", []byte(`{}`), http.StatusCreated); err == nil {
		t.Fatal("a post on a closed connection succeeded")
	}
	if err := c.post("/api/jobs", []byte(`{"i":2}`), http.StatusCreated); err != nil {
		t.Fatalf("the post after a broken connection: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 7 || bodies[0] != `POST /api/jobs application/json {"kind":"noop"}` || bodies[6] != `POST /api/jobs application/json {"i":2}` {
		t.Errorf("the server got %q", bodies)
	}
}
