package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// benchJobs returns n no-op insert params with args {"i": n}.
func benchJobs(n int) []*store.JobInsertParams {
	jobs := make([]*store.JobInsertParams, n)
	for i := range jobs {
		jobs[i] = &store.JobInsertParams{
			Kind: "noop", Queue: "default", Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			MaxAttempts: 25,
		}
	}
	return jobs
}

// BenchmarkInsertMany measures inserting in batches of 100 and one by one;
// one op is one job.
func BenchmarkInsertMany(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStore(b)
			ctx := context.Background()
			jobs := benchJobs(batch)
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				now := time.Now()
				if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: jobs[:min(batch, b.N-i)], Now: now}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkFetchComplete measures the worker's store round trips: fetch a
// batch of 100, complete the batch in one call; one op is one job.
func BenchmarkFetchComplete(b *testing.B) {
	s := openStore(b)
	ctx := context.Background()
	for i := 0; i < b.N; i += 1000 {
		if _, err := s.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: benchJobs(min(1000, b.N-i)), Now: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	done := 0
	for done < b.N {
		now := time.Now()
		jobs, err := s.JobFetch(ctx, &store.JobFetchParams{
			Queues: []string{"default"}, Limit: 100, Owner: "bench", Now: now, LeaseExpiresAt: now.Add(30 * time.Second),
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) == 0 {
			b.Fatalf("fetched nothing after %d of %d jobs", done, b.N)
		}
		params := make([]*store.JobSetStateParams, len(jobs))
		for i, j := range jobs {
			params[i] = &store.JobSetStateParams{ID: j.ID, Owner: "bench", Attempt: j.Attempt, State: store.StateCompleted, Now: time.Now()}
		}
		ok, err := s.JobSetStateIfRunningMany(ctx, params)
		if err != nil {
			b.Fatal(err)
		}
		for i, applied := range ok {
			if !applied {
				b.Fatalf("completion of job %d refused", jobs[i].ID)
			}
		}
		done += len(jobs)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}
