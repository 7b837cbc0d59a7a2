package boiler_test

import (
	"context"
	"fmt"
	"time"

	"github.com/doubleboiler/boiler"
)

// ReportArgs are the args of a report that can only be built once its
// data is ready.
type ReportArgs struct {
	Day string `json:"day"`
}

func (ReportArgs) Kind() string { return "report" }

// A handler returns Snooze to run the job again later without using an
// attempt, and Cancel to stop it for good.
func ExampleSnooze() {
	ready := map[string]bool{"2030-01-01": true}
	reg := boiler.NewRegistry()
	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[ReportArgs]) error {
		switch {
		case job.Args.Day == "":
			return boiler.Cancel(fmt.Errorf("no day given"))
		case !ready[job.Args.Day]:
			return boiler.Snooze(10 * time.Minute) // the data is not in yet
		}
		return nil
	})
	client := boiler.NewInlineClient(reg, nil)
	ctx := context.Background()

	res, _ := client.Enqueue(ctx, ReportArgs{Day: "2030-01-02"}, nil)
	fmt.Println(res.Job.State, "attempt", res.Job.Attempt)

	res, _ = client.Enqueue(ctx, ReportArgs{Day: "2030-01-01"}, nil)
	fmt.Println(res.Job.State, "attempt", res.Job.Attempt)

	_, err := client.Enqueue(ctx, ReportArgs{}, nil)
	fmt.Println(err)
	// Output:
	// scheduled attempt 0
	// completed attempt 1
	// enqueue report: job cancelled by its handler: no day given
}
