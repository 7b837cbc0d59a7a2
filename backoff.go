package boiler

import (
	"math/rand/v2"
	"time"
)

// DefaultBackoff is the default delay before a failed job's next attempt:
// attempt⁴ seconds + 15 s + a random jitter of up to 10·(attempt+1) s, as
// Sidekiq does. attempt is the number of the attempt that just failed (1
// for the first). The delays grow from about 20 s to about 4 days, and the
// 24 retries of the default MaxAttempts (25) span about three weeks: long
// enough to outlast a weekend outage or a bug fixed on Monday.
//
// The jitter spreads the retries of jobs that failed together (a downstream
// outage), so they do not all come back at the same second.
func DefaultBackoff(attempt int) time.Duration {
	n := min(max(attempt, 1), 100) // 100⁴ s is three years: enough
	base := float64(n*n*n*n + 15)
	jitter := rand.Float64() * 10 * float64(n+1)
	return time.Duration((base + jitter) * float64(time.Second))
}
