package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/internal/builtin"
	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// benchClients is the load: 64 concurrent clients.
const benchClients = 64

// BenchmarkEnqueue posts single noop jobs to POST /api/jobs from 64
// concurrent clients, with a worker draining them in the same process on
// the embedded SQLite store, and reports accepted jobs/s and request
// latency. "handler" calls the handler directly (the API and the store);
// "tcp" goes through a loopback HTTP server and keep-alive connections.
//
//	go test -run '^$' -bench Enqueue -benchtime 20000x ./httpapi/
func BenchmarkEnqueue(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		h, client := benchAPI(b)
		benchPost(b, client, func(body []byte) (int, error) {
			req := httptest.NewRequest("POST", "/api/jobs", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Code, nil
		})
	})
	b.Run("tcp", func(b *testing.B) {
		h, bc := benchAPI(b)
		srv := httptest.NewServer(h)
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: benchClients}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		benchPost(b, bc, func(body []byte) (int, error) {
			resp, err := client.Post(srv.URL+"/api/jobs", "application/json", bytes.NewReader(body))
			if err != nil {
				return 0, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, nil
		})
	})
}

// benchAPI returns the API on a fresh SQLite store with a worker running
// the built-in kinds, both stopped when b ends, and the API's client.
func benchAPI(b *testing.B) (http.Handler, *boiler.Client) {
	b.Helper()
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	reg := boiler.NewRegistry()
	builtin.Register(reg, nil)
	w, err := boiler.NewWorker(s, reg, &boiler.WorkerOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		w.Stop(ctx)
	})
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	h, err := httpapi.New(&httpapi.Options{Client: client, Secret: []byte("bench")})
	if err != nil {
		b.Fatal(err)
	}
	return h, client
}

// benchPost runs post from benchClients goroutines and reports jobs/s,
// the p50 and p99 latency of a request, and how long after the load the
// worker had finished every job (drain-ms).
func benchPost(b *testing.B, client *boiler.Client, post func(body []byte) (int, error)) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchClients + procs - 1) / procs)
	body := []byte(`{"kind":"noop","args":{"i":1}}`)
	var mu sync.Mutex
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			code, err := post(body)
			local = append(local, time.Since(t0))
			if err != nil || code != http.StatusCreated {
				b.Errorf("POST /api/jobs: %d %v", code, err)
				return
			}
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	drainStart := time.Now()
	for {
		stats, err := client.QueueStats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		left := int64(0)
		for _, q := range stats {
			left += q.Counts[store.StateAvailable] + q.Counts[store.StateRunning]
		}
		if left == 0 {
			break
		}
		if time.Since(drainStart) > time.Minute {
			b.Fatalf("%d jobs still not done a minute after the load", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(time.Since(drainStart))/float64(time.Millisecond), "drain-ms")
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p int) float64 { return float64(lat[(len(lat)-1)*p/100]) / float64(time.Millisecond) }
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(pct(50), "p50-ms")
	b.ReportMetric(pct(99), "p99-ms")
}
