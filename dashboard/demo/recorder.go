// Package demo is the backend of the live demo that `boiler demo` serves:
// in-process worker pools the autoscaler starts and stops ([Pools]), a
// record of when each job's completion reached the store ([Recorder]),
// and the server-sent events that carry both to the demo page
// ([NewEvents]). The page computes the enqueue-to-done latency of the
// jobs it created from the completion times, so the figures it shows are
// measured, not estimated, and cost the server one ring buffer.
package demo

import (
	"context"
	"sync"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// DefaultRecorderSize is how many completions a [Recorder] keeps when
// NewRecorder is given 0.
const DefaultRecorderSize = 1 << 16

// Completion is one job whose completion the store has recorded.
type Completion struct {
	// ID is the job's ID.
	ID int64
	// At is when the store confirmed the completion (the store call that
	// recorded it had returned): the job was done and visible as
	// completed from then on.
	At time.Time
}

// Recorder keeps the latest completions of the jobs run by workers on the
// store it wraps (see [Recorder.Wrap]), numbered by a sequence so that a
// reader can ask for what is new since its last read. It is safe for
// concurrent use.
type Recorder struct {
	now func() time.Time

	mu   sync.Mutex
	buf  []Completion
	next uint64 // sequence number of the next completion; buf[seq % len] holds seq
}

// NewRecorder returns a recorder keeping the latest size completions
// (0: [DefaultRecorderSize]). now is the clock (nil: time.Now).
func NewRecorder(size int, now func() time.Time) *Recorder {
	if size <= 0 {
		size = DefaultRecorderSize
	}
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, buf: make([]Completion, size)}
}

// add keeps the completions of ids, all confirmed at at.
func (r *Recorder) add(ids []int64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		r.buf[r.next%uint64(len(r.buf))] = Completion{ID: id, At: at}
		r.next++
	}
}

// Seq returns the sequence number the next completion will get: a reader
// that starts now passes it to Since to get only what follows.
func (r *Recorder) Seq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next
}

// Since returns the completions numbered from seq on, the sequence number
// to ask from next time, and how many completions after seq were already
// forgotten (the ring was overrun) and are missing from the result.
func (r *Recorder) Since(seq uint64) (out []Completion, next, missed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if seq > r.next {
		seq = r.next // a sequence from a previous run of the server
	}
	if oldest := r.next - min(r.next, uint64(len(r.buf))); seq < oldest {
		missed, seq = oldest-seq, oldest
	}
	out = make([]Completion, 0, r.next-seq)
	for s := seq; s < r.next; s++ {
		out = append(out, r.buf[s%uint64(len(r.buf))])
	}
	return out, r.next, missed
}

// Wrap returns s recording, into r, every completion a worker makes
// through it. Give the wrapped store to the workers only. If s wakes
// workers on inserts ([store.Listener]), so does the wrapped store.
func (r *Recorder) Wrap(s store.Store) store.Store {
	rs := &recordingStore{Store: s, rec: r}
	if l, ok := s.(store.Listener); ok {
		return &recordingListener{recordingStore: rs, l: l}
	}
	return rs
}

// recordingStore is a store.Store whose completions go to a Recorder.
type recordingStore struct {
	store.Store
	rec *Recorder
}

// JobSetStateIfRunningMany records the jobs that this call completed,
// once the store has confirmed it.
func (s *recordingStore) JobSetStateIfRunningMany(ctx context.Context, params []*store.JobSetStateParams) ([]bool, error) {
	applied, err := s.Store.JobSetStateIfRunningMany(ctx, params)
	if err != nil {
		return applied, err
	}
	at := s.rec.now()
	var ids []int64
	for i, p := range params {
		if p.State == store.StateCompleted && i < len(applied) && applied[i] {
			ids = append(ids, p.ID)
		}
	}
	s.rec.add(ids, at)
	return applied, nil
}

// recordingListener is a recordingStore over a store that notifies.
type recordingListener struct {
	*recordingStore
	l store.Listener
}

// ListenInserts implements [store.Listener] with the wrapped store's.
func (s *recordingListener) ListenInserts(ctx context.Context) (<-chan string, error) {
	return s.l.ListenInserts(ctx)
}

var (
	_ store.Store    = (*recordingStore)(nil)
	_ store.Listener = (*recordingListener)(nil)
)
