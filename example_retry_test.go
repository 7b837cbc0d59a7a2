package boiler_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/doubleboiler/boiler"
)

// PingArgs are the args of a job that fails once, then succeeds.
type PingArgs struct {
	URL string `json:"url"`
}

func (PingArgs) Kind() string { return "ping" }

// A failed attempt is retried after a backoff, and its error stays on the
// job; OnError sees every failure (to report it to an error tracker).
func ExampleWorkerOptions_retry() {
	ctx := context.Background()
	s, cleanup := openExampleStore()
	defer cleanup()

	done := make(chan struct{})
	reg := boiler.NewRegistry()
	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[PingArgs]) error {
		if job.Attempt == 1 {
			return errors.New("connection refused")
		}
		fmt.Println("attempt", job.Attempt, "reached", job.Args.URL)
		close(done)
		return nil
	})
	worker, err := boiler.NewWorker(s, reg, &boiler.WorkerOptions{
		Backoff: func(attempt int) time.Duration { return 100 * time.Millisecond }, // default: DefaultBackoff
		OnError: func(ctx context.Context, job *boiler.JobRow, err error) {
			fmt.Printf("attempt %d of job %s failed: %v\n", job.Attempt, job.Kind, err)
		},
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Enqueue(ctx, PingArgs{URL: "https://example.com"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := worker.Start(ctx); err != nil {
		log.Fatal(err)
	}
	<-done
	if err := worker.Stop(ctx); err != nil {
		log.Fatal(err)
	}
	job, err := client.JobGet(ctx, res.Job.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(job.State, "after", job.Attempt, "attempts; kept errors:")
	for _, e := range job.Errors {
		fmt.Printf("  attempt %d: %s\n", e.Attempt, e.Error)
	}
	// Output:
	// attempt 1 of job ping failed: connection refused
	// attempt 2 reached https://example.com
	// completed after 2 attempts; kept errors:
	//   attempt 1: connection refused
}
