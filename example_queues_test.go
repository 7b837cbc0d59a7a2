package boiler_test

import (
	"fmt"

	"github.com/doubleboiler/boiler"
)

// ParseQueues reads the queue list of a command line or an environment
// variable (BOILER_QUEUES=high=6,default=3,low=1) into
// WorkerOptions.Queues.
func ExampleParseQueues() {
	queues, err := boiler.ParseQueues("high=6, default=3, low")
	fmt.Println(queues, err)

	_, err = boiler.ParseQueues("high=6,high=2")
	fmt.Println(err)
	// Output:
	// [{high 6} {default 3} {low 1}] <nil>
	// parsing queues "high=6,high=2": queue "high" is listed twice
}
