package autoscale_test

import (
	"fmt"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// The policy on its own: readings in, decisions out, the clock passed in.
// A burst of 1,000 jobs hires 10 workers at once; the quiet that follows
// fires them only after the stabilization window.
func ExamplePolicy() {
	p, err := autoscale.NewPolicy(autoscale.Options{Min: 1, Max: 10, JobsPerWorker: 100})
	if err != nil {
		panic(err)
	}
	start := time.Date(2025, 3, 7, 9, 0, 0, 0, time.UTC)
	workers := 1
	for _, r := range []struct {
		after   time.Duration
		backlog int64
	}{{0, 1000}, {time.Minute, 0}, {4 * time.Minute, 0}, {5 * time.Minute, 0}} {
		now := start.Add(r.after)
		d := p.Decide(autoscale.Input{Now: now, Current: workers,
			Metric: autoscale.Metric{Backlog: r.backlog, ReadAt: now}})
		if d.Change() {
			p.Applied(d) // the target made the change
			workers = d.Desired
		}
		fmt.Printf("%s backlog %4d: %-4s → %2d workers\n", r.after, r.backlog, d.Action, workers)
	}
	// Output:
	// 0s backlog 1000: up   → 10 workers
	// 1m0s backlog    0: hold → 10 workers
	// 4m0s backlog    0: hold → 10 workers
	// 5m0s backlog    0: down →  1 workers
}
