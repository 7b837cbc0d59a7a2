package boiler_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/store"
)

// UsageReportArgs build a usage report.
type UsageReportArgs struct {
	Full bool `json:"full"`
}

func (UsageReportArgs) Kind() string { return "usage_report" }

// Declare periodic jobs in WorkerOptions.Periodic. Every worker sharing
// the store runs the scheduler, one of them is elected to enqueue the
// ticks, and each tick runs once however many workers (and containers)
// run. A real schedule would be "0 3 * * *" (at 3:00 every night) or
// "@every 10m"; the store keeps the last tick, so ticks missed while every
// container was idle are caught up as CatchUp says.
func ExampleWorkerOptions_periodic() {
	ctx := context.Background()
	s, cleanup := openExampleStore()
	defer cleanup()

	ran := make(chan bool, 10)
	reg := boiler.NewRegistry()
	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[UsageReportArgs]) error {
		ran <- job.Args.Full
		return nil
	})
	worker, err := boiler.NewWorker(s, reg, &boiler.WorkerOptions{
		Periodic: []*boiler.PeriodicJob{{
			Name:    "usage-report",
			Spec:    "@every 1s",
			Args:    UsageReportArgs{Full: true},
			Options: &boiler.EnqueueOptions{Queue: "reports"},
			CatchUp: store.CatchUpSkip,
		}},
		Queues: []boiler.QueueWeight{{Name: "reports"}},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := worker.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer worker.Stop(ctx)

	fmt.Println("report ran, full:", <-ran)
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		log.Fatal(err)
	}
	list, err := client.PeriodicList(ctx)
	if err != nil {
		log.Fatal(err)
	}
	p := list[0]
	fmt.Println(p.Name, p.Spec, p.Kind, p.Queue, p.CatchUp, p.Source, worker.Leader())
	// Output:
	// report ran, full: true
	// usage-report @every 1s usage_report reports skip code true
}
