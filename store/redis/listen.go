package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/internal/fanout"
)

// listenerBuffer is how many wake-ups a slow listener may have pending;
// more are dropped (a receive stands for any number of inserts).
const listenerBuffer = 16

// ListenInserts returns a channel that receives the queue name of jobs as
// they are inserted (or made available by JobRetry, a release, a rescue or
// QueueResume), from this process or any other on the same Redis and
// prefix. All listeners of a Store share one subscription (one
// connection); a slow listener misses wake-ups rather than delaying
// anyone. The subscription reconnects by itself after a network error;
// wake-ups published while it is down are lost, which the workers' polling
// covers. The channel is closed when ctx is done or the Store is closed.
func (s *Store) ListenInserts(ctx context.Context) (<-chan string, error) {
	ch, err := s.hub.listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("listening for inserts: %w", err)
	}
	return ch, nil
}

// hub fans one Redis subscription out to every listener of a Store. The
// subscription starts with the first listener and stops with the last.
type hub struct {
	client  goredis.UniversalClient
	channel string

	subs *fanout.Set // the listeners' channels

	mu     sync.Mutex
	closed bool
	ps     *goredis.PubSub
	done   chan struct{} // closed when the fan-out goroutine of ps returns
}

func newHub(client goredis.UniversalClient, channel string) *hub {
	return &hub{client: client, channel: channel, subs: fanout.New(listenerBuffer)}
}

// errStoreClosed is returned by ListenInserts after Close.
var errStoreClosed = errors.New("store is closed")

func (h *hub) listen(ctx context.Context) (<-chan string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errStoreClosed
	}
	if h.ps == nil {
		ps := h.client.Subscribe(ctx, h.channel)
		// Wait for the confirmation, so an insert that follows this call
		// is seen.
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			return nil, fmt.Errorf("subscribing to %s: %w", h.channel, err)
		}
		h.ps, h.done = ps, make(chan struct{})
		go h.fanOut(ps.Channel(), h.done)
	}
	ch, err := h.subs.Subscribe(ctx)
	if err != nil { // cannot happen: h.subs is closed only with h.closed, under h.mu
		return nil, err
	}
	// The set closes ch when ctx is done too; remove makes sure it is gone
	// before it counts the listeners left.
	context.AfterFunc(ctx, func() { h.remove(ch) })
	return ch, nil
}

// fanOut copies every message to every listener without blocking.
func (h *hub) fanOut(msgs <-chan *goredis.Message, done chan struct{}) {
	defer close(done)
	for m := range msgs {
		h.subs.Send(m.Payload)
	}
}

// remove closes one listener's channel, and the subscription with the last.
func (h *hub) remove(ch <-chan string) {
	h.mu.Lock()
	h.subs.Unsubscribe(ch)
	var ps *goredis.PubSub
	var done chan struct{}
	if h.subs.Len() == 0 && h.ps != nil {
		ps, done = h.ps, h.done
		h.ps, h.done = nil, nil
	}
	h.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
}

// close closes every listener and the subscription, and waits for the
// fan-out goroutine.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	h.subs.Close()
	ps, done := h.ps, h.done
	h.ps, h.done = nil, nil
	h.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
}
