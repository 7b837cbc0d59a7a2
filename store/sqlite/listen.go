package sqlite

import (
	"context"
	"errors"
	"sync"

	"github.com/doubleboiler/boiler/store"
)

// ListenInserts returns a channel that receives the queue of jobs inserted
// through this Store (JobInsertMany, JobInsertManyTx; duplicates are not
// inserts), and of jobs JobRetry makes available. The channel has a buffer of one and a
// send never blocks: when it is full, the notification is dropped, since
// the one waiting already wakes the worker. The channel is closed when ctx
// is done or the Store is closed.
//
// Only this Store's inserts are heard. Jobs inserted by another process
// (boiler enqueue from a shell) are found by the worker's poll.
func (s *Store) ListenInserts(ctx context.Context) (<-chan string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch, err := s.listeners.add(ctx)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// listeners fans insert notifications out to the channels of
// ListenInserts.
type listeners struct {
	mu     sync.Mutex
	closed bool
	m      map[chan string]func() bool // channel -> stop of its context.AfterFunc
}

// add registers a channel that is removed and closed when ctx is done.
func (l *listeners) add(ctx context.Context) (chan string, error) {
	ch := make(chan string, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("listening for inserts: the store is closed")
	}
	if l.m == nil {
		l.m = make(map[chan string]func() bool)
	}
	l.m[ch] = context.AfterFunc(ctx, func() { l.remove(ch) })
	return ch, nil
}

// remove closes ch if it is still registered.
func (l *listeners) remove(ch chan string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.m[ch]; ok {
		delete(l.m, ch)
		close(ch)
	}
}

// notify sends queue to every listener that has room for it.
func (l *listeners) notify(queue string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch := range l.m {
		select {
		case ch <- queue:
		default: // a notification is already waiting: it stands for this one too
		}
	}
}

// closeAll closes every channel and refuses new listeners.
func (l *listeners) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for ch, stop := range l.m {
		stop()
		delete(l.m, ch)
		close(ch)
	}
}

// notifyInserted tells the listeners about the queues of the jobs res
// inserted (once per run of one queue). A scheduled job is announced too:
// the wake-up costs one fetch, and it keeps the contract simple.
func (s *Store) notifyInserted(res []store.JobInsertResult) {
	var last string
	for _, r := range res {
		if r.Duplicate || r.Job.Queue == last {
			continue
		}
		last = r.Job.Queue
		s.listeners.notify(last)
	}
}
