package bench

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/doubleboiler/boiler"
)

// recorder counts job starts and keeps each start's enqueue-to-start
// latency (start minus the job's RunAt). The built-in handlers call
// started from many goroutines.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
}

// started records one job's start.
func (r *recorder) started(job *boiler.JobRow, at time.Time) {
	lat := max(at.Sub(job.RunAt), 0)
	r.mu.Lock()
	r.latencies = append(r.latencies, lat)
	r.mu.Unlock()
}

// count returns how many starts were recorded since the last reset.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.latencies)
}

// reset forgets the recorded starts.
func (r *recorder) reset() {
	r.mu.Lock()
	r.latencies = r.latencies[:0]
	r.mu.Unlock()
}

// percentiles returns the p50 and p99 of the recorded latencies (zero
// when there are none).
func (r *recorder) percentiles() (p50, p99 time.Duration) {
	r.mu.Lock()
	sorted := slices.Clone(r.latencies)
	r.mu.Unlock()
	slices.Sort(sorted)
	return percentile(sorted, 0.50), percentile(sorted, 0.99)
}

// percentile returns the nearest-rank q-quantile (0 < q <= 1) of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
