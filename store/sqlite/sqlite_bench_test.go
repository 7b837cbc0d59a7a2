package sqlite_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// benchNow is the benchmarks' clock: a fixed time, like the suite's.
var benchNow = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

// benchJobs returns n no-op jobs with args {"i": k}, as workload W1.
func benchJobs(n, from int) []*store.JobInsertParams {
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{
			Kind: "noop", Queue: "default", MaxAttempts: 25,
			Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, from+i)),
		}
	}
	return ps
}

// reportJobsPerSec reports jobs/s for n jobs over the benchmark's time.
func reportJobsPerSec(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkInsertMany inserts 1,000 jobs per JobInsertMany call.
func BenchmarkInsertMany(b *testing.B) {
	s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"), nil)
	const batch = 1000
	jobs := benchJobs(batch, 0)
	n := 0
	for b.Loop() {
		if _, err := s.JobInsertMany(b.Context(), &store.JobInsertManyParams{Jobs: jobs, Now: benchNow}); err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	reportJobsPerSec(b, n)
}

// BenchmarkInsertOne inserts one job per call (one transaction each).
func BenchmarkInsertOne(b *testing.B) {
	s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"), nil)
	jobs := benchJobs(1, 0)
	n := 0
	for b.Loop() {
		if _, err := s.JobInsertMany(b.Context(), &store.JobInsertManyParams{Jobs: jobs, Now: benchNow}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportJobsPerSec(b, n)
}

// BenchmarkFetchComplete fetches 100 jobs, then completes the batch with
// one JobSetStateIfRunningMany, as a worker does. The queue is refilled
// (untimed) when it runs dry; the table keeps every completed job, so it
// grows as the benchmark runs.
func BenchmarkFetchComplete(b *testing.B) {
	s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"), nil)
	benchFetchComplete(b, s, 100)
}

// BenchmarkFetchCompleteMillion is BenchmarkFetchComplete on a table that
// already holds 1,000,000 completed jobs: the fetch must not slow down.
// (-bench 'FetchComplete$' leaves it out: building the table takes a
// while.)
func BenchmarkFetchCompleteMillion(b *testing.B) {
	s := openMigrated(b, filepath.Join(b.TempDir(), "bench.db"), nil)
	fillCompleted(b, s, 1_000_000)
	benchFetchComplete(b, s, 100)
}

func benchFetchComplete(b *testing.B, s *sqlite.Store, batch int) {
	const refill = 20_000
	ctx := b.Context()
	avail := 0
	n := 0
	params := make([]*store.JobSetStateParams, 0, batch)
	for b.Loop() {
		if avail < batch {
			b.StopTimer()
			for i := 0; i < refill; i += 1000 {
				if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: benchJobs(1000, i), Now: benchNow}); err != nil {
					b.Fatal(err)
				}
			}
			avail += refill
			b.StartTimer()
		}
		jobs, err := s.JobFetch(ctx, &store.JobFetchParams{
			Queues: []string{"default"}, Limit: batch, Owner: "bench",
			Now: benchNow, LeaseExpiresAt: benchNow.Add(time.Minute),
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) != batch {
			b.Fatalf("fetched %d jobs, want %d", len(jobs), batch)
		}
		params = params[:0]
		for _, j := range jobs {
			params = append(params, &store.JobSetStateParams{
				ID: j.ID, Owner: "bench", Attempt: j.Attempt, State: store.StateCompleted, Now: benchNow,
			})
		}
		applied, err := s.JobSetStateIfRunningMany(ctx, params)
		if err != nil {
			b.Fatal(err)
		}
		for i, ok := range applied {
			if !ok {
				b.Fatalf("completion of job %d not applied", jobs[i].ID)
			}
		}
		avail -= batch
		n += batch
	}
	reportJobsPerSec(b, n)
}

// fillCompleted adds n completed jobs in one statement (as if the store
// had run and completed them: the benchmark measures the fetch beside
// them, not how they got there).
func fillCompleted(b *testing.B, s *sqlite.Store, n int) {
	b.Helper()
	now := benchNow.UnixMicro()
	_, err := s.DB().ExecContext(b.Context(), `
		WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1)
		INSERT INTO jobs (kind, queue, args, state, attempt, max_attempts, enqueued_at, run_at, attempted_at, finalized_at)
		SELECT 'noop', 'default', '{"i":' || i || '}', 'completed', 1, 25, ?2, ?2, ?2, ?2 FROM c`, n, now)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.DB().ExecContext(b.Context(),
		`INSERT INTO queue_counts (queue, state, n) VALUES ('default', 'completed', ?)`, n); err != nil {
		b.Fatal(err)
	}
}
