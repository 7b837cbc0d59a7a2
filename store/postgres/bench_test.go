package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
	"github.com/doubleboiler/boiler/store/postgres"
)

// BenchmarkInsertMany inserts batches of no-op jobs; jobs/s is the figure.
func BenchmarkInsertMany(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := newTestStore(b)
			params := make([]*store.JobInsertParams, size)
			for i := range params {
				params[i] = job("default")
			}
			now := time.Now()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.JobInsertMany(b.Context(), &store.JobInsertManyParams{Now: now, Jobs: params}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkFetchComplete drains a backlog the way a worker does: fetchers
// lease batches and acknowledge each batch's completions in one call.
// One op is one job.
func BenchmarkFetchComplete(b *testing.B) {
	for _, c := range []struct{ fetchers, batch int }{{1, 100}, {4, 50}} {
		b.Run(fmt.Sprintf("fetchers=%d/batch=%d", c.fetchers, c.batch), func(b *testing.B) {
			s, _ := newTestStore(b)
			fillBacklog(b, s, b.N)
			now := time.Now()
			var wg sync.WaitGroup
			b.ResetTimer()
			for f := range c.fetchers {
				owner := fmt.Sprintf("bench-%d", f)
				wg.Go(func() {
					for {
						jobs, err := s.JobFetch(b.Context(), &store.JobFetchParams{
							Queues: []string{"default"}, Limit: c.batch, Owner: owner, Now: now, LeaseExpiresAt: now.Add(time.Minute),
						})
						if err != nil {
							b.Error(err)
							return
						}
						if len(jobs) == 0 {
							return
						}
						done := make([]*store.JobSetStateParams, len(jobs))
						for i, j := range jobs {
							done[i] = &store.JobSetStateParams{ID: j.ID, Owner: owner, Attempt: j.Attempt, State: store.StateCompleted, Now: now}
						}
						if _, err := s.JobSetStateIfRunningMany(b.Context(), done); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}

// BenchmarkNotifyLatency is the time from an insert's call to its
// wake-up on another connection (the enqueue-to-wake part of W3).
func BenchmarkNotifyLatency(b *testing.B) {
	s, _ := newTestStore(b)
	wake, err := s.ListenInserts(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	params := &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{job("default")}}
	for b.Loop() {
		if _, err := s.JobInsertMany(b.Context(), params); err != nil {
			b.Fatal(err)
		}
		select {
		case <-wake:
		case <-time.After(5 * time.Second):
			b.Fatal("no wake-up within 5s")
		}
	}
}

// fillBacklog inserts n available no-op jobs in large batches.
func fillBacklog(b *testing.B, s *postgres.Store, n int) {
	b.Helper()
	const batch = 5000
	now := time.Now()
	for n > 0 {
		params := make([]*store.JobInsertParams, min(n, batch))
		for i := range params {
			params[i] = job("default")
		}
		if _, err := s.JobInsertMany(b.Context(), &store.JobInsertManyParams{Now: now, Jobs: params}); err != nil {
			b.Fatal(err)
		}
		n -= len(params)
	}
}
