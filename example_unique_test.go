package boiler_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/doubleboiler/boiler"
)

// SyncArgs synchronise one account; one sync per account at a time is
// enough, so the args carry a unique key.
type SyncArgs struct {
	AccountID int `json:"account_id"`
}

func (SyncArgs) Kind() string { return "sync" }

// EnqueueOptions gives every sync job its queue and unique key.
func (a SyncArgs) EnqueueOptions() boiler.EnqueueOptions {
	return boiler.EnqueueOptions{Queue: "sync", UniqueKey: fmt.Sprintf("sync:%d", a.AccountID)}
}

// A job with a unique key is enqueued once: while it is live, enqueueing
// it again returns the existing job. Options given to Enqueue override
// those of the args.
func ExampleEnqueueOptions_unique() {
	ctx := context.Background()
	s, cleanup := openExampleStore()
	defer cleanup()
	client, err := boiler.NewClient(s, nil)
	if err != nil {
		log.Fatal(err)
	}

	first, err := client.Enqueue(ctx, SyncArgs{AccountID: 42}, &boiler.EnqueueOptions{RunIn: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	again, err := client.Enqueue(ctx, SyncArgs{AccountID: 42}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.Job.Queue, first.Job.State, first.Duplicate)
	fmt.Println(again.Job.ID == first.Job.ID, again.Duplicate)
	// Output:
	// sync scheduled false
	// true true
}
