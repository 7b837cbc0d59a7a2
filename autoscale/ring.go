package autoscale

import "sync"

// DefaultRingSize is the number of decisions a [Ring] keeps when NewRing
// is given 0.
const DefaultRingSize = 100

// Ring keeps the latest decisions, for the dashboard and the JSON API. It
// is safe for concurrent use: the scaler adds while a page reads.
type Ring struct {
	mu   sync.Mutex
	buf  []Decision
	next int  // where the next decision goes
	full bool // buf has wrapped
}

// NewRing returns a ring that keeps the latest size decisions (size 0:
// [DefaultRingSize]; a negative size is treated as 1).
func NewRing(size int) *Ring {
	if size == 0 {
		size = DefaultRingSize
	}
	return &Ring{buf: make([]Decision, max(size, 1))}
}

// Add keeps d, forgetting the oldest decision when the ring is full.
func (r *Ring) Add(d Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf[r.next] = d
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

// Recent returns the kept decisions, newest first, in a new slice.
func (r *Ring) Recent() []Decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	out := make([]Decision, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+len(r.buf))%len(r.buf)])
	}
	return out
}

// Len returns how many decisions the ring holds.
func (r *Ring) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.full {
		return len(r.buf)
	}
	return r.next
}
