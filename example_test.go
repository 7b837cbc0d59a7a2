package boiler_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/store/sqlite"
)

// EmailArgs are the args of an "email" job.
type EmailArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// Kind names the job's handler.
func (EmailArgs) Kind() string { return "email" }

// openExampleStore opens a SQLite store in a temporary directory; cleanup
// closes it and removes the directory.
func openExampleStore() (*sqlite.Store, func()) {
	dir, err := os.MkdirTemp("", "boiler-example")
	if err != nil {
		log.Fatal(err)
	}
	s, err := sqlite.Open(filepath.Join(dir, "jobs.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

// Enqueue a job with a Client and run it with a Worker. In a real program
// the worker runs until a signal: worker.Run(ctx) with a ctx from
// signal.NotifyContext.
func Example() {
	ctx := context.Background()
	s, cleanup := openExampleStore()
	defer cleanup()

	done := make(chan struct{})
	reg := boiler.NewRegistry()
	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[EmailArgs]) error {
		fmt.Printf("sending %q to %s (attempt %d)\n", job.Args.Subject, job.Args.To, job.Attempt)
		close(done)
		return nil
	})

	client, err := boiler.NewClient(s, nil)
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Enqueue(ctx, EmailArgs{To: "ada@example.com", Subject: "Welcome"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("enqueued into", res.Job.Queue)

	worker, err := boiler.NewWorker(s, reg, &boiler.WorkerOptions{
		Logger: slog.New(slog.DiscardHandler),
	})
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
	fmt.Println("job", job.State)
	// Output:
	// enqueued into default
	// sending "Welcome" to ada@example.com (attempt 1)
	// job completed
}
