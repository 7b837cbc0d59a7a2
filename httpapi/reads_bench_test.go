package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/store"
)

// BenchmarkReads times the dashboard's reads on a store holding many jobs
// (BOILER_BENCH_JOBS, default 20,000; the figure is 1,000,000):
// the first page of jobs, a page by state (a common one, and rare ones
// found among many), a page deep behind a cursor, a workflow's jobs, and
// the queue stats. The target is under 100 ms each.
//
//	BOILER_BENCH_JOBS=1000000 go test -run '^$' -bench Reads -benchtime 20x ./httpapi/
func BenchmarkReads(b *testing.B) {
	n := 20_000
	if s := os.Getenv("BOILER_BENCH_JOBS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("BOILER_BENCH_JOBS=%q: want a positive number", s)
		}
	}
	for _, backend := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", openSQLite}, {"postgres", openPostgres}} {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			client, err := boiler.NewClient(s, nil)
			if err != nil {
				b.Fatal(err)
			}
			fill(b, s, client, n)
			h, err := httpapi.New(&httpapi.Options{Client: client, Secret: []byte("bench")})
			if err != nil {
				b.Fatal(err)
			}
			var page struct {
				NextCursor int64 `json:"next_cursor"`
			}
			get(b, h, "/api/jobs?limit=50", &page)
			mid := page.NextCursor - int64(n/2)
			for _, read := range []struct{ name, path string }{
				{"first-page", "/api/jobs?limit=50"},
				{"available", "/api/jobs?state=available&limit=50"},
				{"finalized", "/api/jobs?state=completed,discarded&limit=50"},
				{"deep-cursor", fmt.Sprintf("/api/jobs?limit=50&cursor=%d", mid)},
				{"queue-and-kind", "/api/jobs?queue=q3&kind=k1&limit=50"},
				{"running", "/api/jobs?state=running&limit=50"},
				{"cancelled", "/api/jobs?state=cancelled&limit=50"},
				{"workflow", "/api/jobs?workflow=wf-bench&limit=50"},
				{"queue-stats", "/api/queues"},
			} {
				b.Run(read.name, func(b *testing.B) {
					for b.Loop() {
						get(b, h, read.path, nil)
					}
					b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(time.Millisecond), "ms/read")
				})
			}
		})
	}
}

// fill enqueues n jobs in batches (kinds k0..k2, queues q0..q4). The
// oldest fifth ran as a worker runs them: most completed, every tenth
// discarded; then 100 more are left running, 10 are cancelled, and 20
// belong to a workflow. The rest stay available: the newest jobs are a
// backlog, as in a busy queue, so a page of finalized jobs is found below
// it.
func fill(b *testing.B, s store.Store, client *boiler.Client, n int) {
	b.Helper()
	ctx := context.Background()
	enqueue(b, client, 0, n/5)
	queues := []string{"q0", "q1", "q2", "q3", "q4"}
	for ran := 0; ran < n/5; {
		now := time.Now()
		jobs, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: queues, Limit: min(1000, n/5-ran), Owner: "bench", Now: now, LeaseExpiresAt: now.Add(time.Minute)})
		if err != nil || len(jobs) == 0 {
			b.Fatalf("fetching: %v (%d jobs)", err, len(jobs))
		}
		params := make([]*store.JobSetStateParams, len(jobs))
		for i, j := range jobs {
			params[i] = &store.JobSetStateParams{ID: j.ID, Owner: "bench", Attempt: j.Attempt, State: store.StateCompleted, Now: now}
			if j.ID%10 == 0 {
				params[i].State = store.StateDiscarded
				params[i].Error = &store.AttemptError{Attempt: j.Attempt, At: now, Error: "bench: failed"}
			}
		}
		if _, err := s.JobSetStateIfRunningMany(ctx, params); err != nil {
			b.Fatal(err)
		}
		ran += len(jobs)
	}
	enqueue(b, client, n/5, n)
	now := time.Now()
	if _, err := s.JobFetch(ctx, &store.JobFetchParams{Queues: queues, Limit: 100, Owner: "bench", Now: now, LeaseExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	page, err := s.JobList(ctx, &store.JobListParams{States: []store.State{store.StateAvailable}, Limit: 10})
	if err != nil {
		b.Fatal(err)
	}
	for _, j := range page {
		if _, err := s.JobCancel(ctx, &store.JobCancelParams{ID: j.ID, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
	wf := make([]*store.JobInsertParams, 20)
	for i := range wf {
		wf[i] = &store.JobInsertParams{Kind: "k0", Queue: "q0", Args: json.RawMessage(`{}`), MaxAttempts: 1, Workflow: "wf-bench"}
	}
	if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: wf, Now: now}); err != nil {
		b.Fatal(err)
	}
	// More available jobs after the workflow's, so its page is not the
	// first one.
	enqueue(b, client, n, n+1000)
}

// enqueue enqueues jobs number from to to-1, in batches.
func enqueue(b *testing.B, client *boiler.Client, from, to int) {
	b.Helper()
	const batch = 5000
	for done := from; done < to; done += batch {
		params := make([]boiler.EnqueueRawParams, min(batch, to-done))
		for i := range params {
			j := done + i
			params[i] = boiler.EnqueueRawParams{
				Kind:    fmt.Sprintf("k%d", j%3),
				Args:    json.RawMessage(fmt.Sprintf(`{"i":%d}`, j)),
				Options: &boiler.EnqueueOptions{Queue: fmt.Sprintf("q%d", j%5)},
			}
		}
		if _, err := client.EnqueueRawMany(context.Background(), params); err != nil {
			b.Fatal(err)
		}
	}
}

// get reads path from h, failing b unless it is 200, and decodes into v
// (when not nil).
func get(b *testing.B, h http.Handler, path string, v any) {
	req := httptest.NewRequest("GET", path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			b.Fatal(err)
		}
	}
}
