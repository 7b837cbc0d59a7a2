package boiler

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// BenchmarkWorkerDrain is the W1 drain through the worker on SQLite: the
// jobs are inserted in bulk (not timed), then a worker of concurrency 100
// runs them all (timed, from Start to the end of Stop, so every outcome is
// recorded). One op is one job; jobs/s is the drain rate.
func BenchmarkWorkerDrain(b *testing.B) {
	ctx := context.Background()
	bundle := setup(b)
	var done atomic.Int64
	n := int64(b.N)
	finished := make(chan struct{})
	Handle(bundle.reg, func(context.Context, *Job[noopArgs]) error {
		if done.Add(1) == n {
			close(finished)
		}
		return nil
	})
	const chunk = 5000
	for i := 0; i < b.N; i += chunk {
		params := make([]EnqueueParams, min(chunk, b.N-i))
		for j := range params {
			params[j] = EnqueueParams{Args: noopArgs{N: i + j}}
		}
		if _, err := bundle.client.EnqueueMany(ctx, params); err != nil {
			b.Fatal(err)
		}
	}
	w, err := NewWorker(bundle.store, bundle.reg, &WorkerOptions{
		Concurrency: 100,
		Logger:      slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	if err := w.Start(ctx); err != nil {
		b.Fatal(err)
	}
	<-finished
	if err := w.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	stats, err := bundle.client.QueueStats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if got := stats[0].Counts[store.StateCompleted]; got != int64(b.N) {
		b.Fatalf("%d of %d jobs completed", got, b.N)
	}
}
