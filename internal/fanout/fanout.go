// Package fanout delivers queue names to a set of subscriber channels
// without ever blocking the sender. The stores use it to fan insert
// notifications out to the channels of store.Listener.ListenInserts.
package fanout

import (
	"context"
	"errors"
	"sync"
)

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("fanout: the set is closed")

// Set is a set of subscriber channels that receive queue names without
// ever blocking the sender: a channel whose buffer is full misses the
// value, since the one waiting in it already wakes its reader.
//
// The zero value is ready to use, with a buffer of one per channel; New
// sets another. A Set is safe for concurrent use and must not be copied
// after first use.
type Set struct {
	buffer int // each channel's capacity; 0 means 1

	mu     sync.Mutex
	closed bool
	subs   map[<-chan string]subscriber
}

// subscriber is one channel of a Set and the stop of its
// context.AfterFunc.
type subscriber struct {
	ch   chan string
	stop func() bool
}

// New returns an empty Set whose channels have buffer slots (1 if buffer
// is less than one).
func New(buffer int) *Set {
	return &Set{buffer: max(buffer, 1)}
}

// Subscribe adds a channel to the set and returns it. The channel is
// removed and closed when ctx is done (at once, from another goroutine,
// if it already is), by Unsubscribe, or by Close. Subscribe returns
// ErrClosed after Close.
func (s *Set) Subscribe(ctx context.Context) (<-chan string, error) {
	ch := make(chan string, max(s.buffer, 1))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.subs == nil {
		s.subs = make(map[<-chan string]subscriber)
	}
	s.subs[ch] = subscriber{ch: ch, stop: context.AfterFunc(ctx, func() { s.Unsubscribe(ch) })}
	return ch, nil
}

// Unsubscribe removes ch from the set and closes it. It does nothing if ch
// is not in the set (already removed, or never subscribed).
func (s *Set) Unsubscribe(ch <-chan string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[ch]
	if !ok {
		return
	}
	sub.stop()
	delete(s.subs, ch)
	close(sub.ch)
}

// Send gives queue to every channel that has room for it, without
// blocking. A channel that is full misses it: the value already waiting
// stands for this one too.
func (s *Set) Send(queue string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		select {
		case sub.ch <- queue:
		default:
		}
	}
}

// Len returns how many channels are in the set.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Close removes and closes every channel; later calls to Subscribe return
// ErrClosed. It is safe to call more than once.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for key, sub := range s.subs {
		sub.stop()
		delete(s.subs, key)
		close(sub.ch)
	}
}
