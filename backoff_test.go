package boiler

import (
	"testing"
	"time"
)

func TestDefaultBackoffBounds(t *testing.T) {
	t.Parallel()
	for _, attempt := range []int{1, 2, 5, 10, 24, 25} {
		base := time.Duration(attempt*attempt*attempt*attempt+15) * time.Second
		maxJitter := time.Duration(10*(attempt+1)) * time.Second
		for range 200 {
			d := DefaultBackoff(attempt)
			if d < base || d >= base+maxJitter {
				t.Fatalf("DefaultBackoff(%d) = %s, want in [%s, %s)", attempt, d, base, base+maxJitter)
			}
		}
	}
}

func TestDefaultBackoffGrows(t *testing.T) {
	t.Parallel()
	// The jitter of attempt n is smaller than the gap to attempt n+1 from
	// attempt 3 on, so the delays strictly grow whatever the draw.
	prev := DefaultBackoff(3)
	for attempt := 4; attempt <= 25; attempt++ {
		d := DefaultBackoff(attempt)
		if d <= prev {
			t.Fatalf("DefaultBackoff(%d) = %s, not more than attempt %d's %s", attempt, d, attempt-1, prev)
		}
		prev = d
	}
}

func TestDefaultBackoffTotalIsAboutThreeWeeks(t *testing.T) {
	t.Parallel()
	var total time.Duration
	for attempt := 1; attempt < DefaultMaxAttempts; attempt++ { // the last attempt is not retried
		total += DefaultBackoff(attempt)
	}
	days := total.Hours() / 24
	if days < 19 || days > 23 {
		t.Fatalf("24 retries span %.1f days, want about three weeks", days)
	}
}

func TestDefaultBackoffOddAttempts(t *testing.T) {
	t.Parallel()
	// Out-of-range attempts are clamped, never negative or overflowing.
	if d := DefaultBackoff(0); d < 16*time.Second || d > 40*time.Second {
		t.Fatalf("DefaultBackoff(0) = %s, want the first attempt's delay", d)
	}
	if d := DefaultBackoff(1 << 30); d <= 0 || d > 4*365*24*time.Hour {
		t.Fatalf("DefaultBackoff(huge) = %s, want positive and capped", d)
	}
}
