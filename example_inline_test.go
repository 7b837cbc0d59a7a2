package boiler_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/doubleboiler/boiler"
)

// In unit tests, an inline client runs each job as soon as it is
// enqueued, with the real handler and no store, and returns the handler's
// error.
func ExampleNewInlineClient() {
	ctx := context.Background()
	errBounced := errors.New("mailbox full")
	reg := boiler.NewRegistry()
	boiler.Handle(reg, func(ctx context.Context, job *boiler.Job[EmailArgs]) error {
		if job.Args.To == "full@example.com" {
			return errBounced
		}
		fmt.Println("sent to", job.Args.To)
		return nil
	})
	client := boiler.NewInlineClient(reg, nil)

	res, err := client.Enqueue(ctx, EmailArgs{To: "ada@example.com"}, nil)
	fmt.Println(res.Job.State, err)

	_, err = client.Enqueue(ctx, EmailArgs{To: "full@example.com"}, nil)
	fmt.Println(errors.Is(err, errBounced), err)
	// Output:
	// sent to ada@example.com
	// completed <nil>
	// true enqueue email: mailbox full
}
