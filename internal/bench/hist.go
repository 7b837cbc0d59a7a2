package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histSub is the number of sub-buckets per power of two of a histogram:
// values are kept within 1/histSub (1.6 %) of their size.
const histSub = 64

// histBuckets covers 0 to 2^47 µs (four years) in log-linear buckets.
const histBuckets = 2*histSub + 40*histSub

// hist is a fixed-size, lock-free histogram of durations, to the
// microsecond below 128 µs and within 1.6 % above: a load test records
// hundreds of thousands of latencies in 21 KB instead of a slice that
// would weigh on the RSS it measures.
type hist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
}

// bucket returns v's bucket (v in µs).
func bucket(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v >> shift is in [64, 128)
	i := 2*histSub + (shift-1)*histSub + int(v>>shift) - histSub
	return min(i, histBuckets-1)
}

// lowest returns the smallest value (µs) of bucket i.
func lowest(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	top := uint64((i-2*histSub)%histSub + histSub)
	return top << shift
}

// add records d (negative counts as zero).
func (h *hist) add(d time.Duration) {
	h.counts[bucket(uint64(max(d, 0).Microseconds()))].Add(1)
	h.n.Add(1)
}

// count returns how many values were recorded.
func (h *hist) count() int { return int(h.n.Load()) }

// quantile returns the nearest-rank q-quantile (0 < q <= 1): the middle
// of the bucket holding it (zero when empty).
func (h *hist) quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(max(1, min(float64(n), q*float64(n)+0.999999)))
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo := lowest(i)
			hi := lo + 1
			if i+1 < histBuckets {
				hi = lowest(i + 1)
			}
			return time.Duration(lo+(hi-lo-1)/2) * time.Microsecond
		}
	}
	return 0
}
