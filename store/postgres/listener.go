package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/doubleboiler/boiler/internal/fanout"
)

// channelSuffix names the store's notification channel after its schema,
// so stores in different schemas of one database do not wake each other.
// The insert trigger of migration 001 builds the same name.
const channelSuffix = ".jobs_inserted"

const (
	// subscriberBuffer is how many wake-ups a subscriber may fall behind
	// before further ones are dropped (coalesced: it will fetch anyway).
	subscriberBuffer = 64
	// listenerHealthInterval is how long the listener waits for a
	// notification before it pings its connection, so a connection that
	// died silently is noticed.
	listenerHealthInterval = 30 * time.Second
	// listenerMinBackoff and listenerMaxBackoff bound the wait between
	// reconnection attempts, doubling from the first to the second.
	listenerMinBackoff = 100 * time.Millisecond
	listenerMaxBackoff = 10 * time.Second
)

// ListenInserts returns a channel that receives the queue name of jobs
// inserted into an available state, by any process using this schema. One
// connection per Store LISTENs (opened on the first call, outside the
// pool) and fans out to every channel without blocking; it reconnects with
// backoff when the connection is lost, and notifications sent while it is
// down are lost (workers poll anyway). The channel is closed when ctx is
// done or the store is closed. See store.Listener.
//
// ListenInserts returns once the connection is listening, so every insert
// committed after it returns is heard; if the connection is down, it waits
// for the next attempt, and returns that attempt's error if it fails.
func (s *Store) ListenInserts(ctx context.Context) (<-chan string, error) {
	return s.listener.subscribe(ctx)
}

// listener is the connection that LISTENs on the store's channel, and the
// subscribers it fans out to. It starts with the first subscriber and
// stops when the store is closed.
type listener struct {
	channel string
	connect func(context.Context) (*pgx.Conn, error)
	logger  *slog.Logger

	subs *fanout.Set // the channels of ListenInserts

	mu      sync.Mutex
	up      bool         // the connection is listening
	waiters []chan error // subscribers waiting for the next attempt's outcome
	closed  bool
	cancel  context.CancelFunc // stops run; nil until the first subscriber
	done    chan struct{}      // closed when run returns
}

func newListener(channel string, connect func(context.Context) (*pgx.Conn, error), logger *slog.Logger) *listener {
	return &listener{
		channel: channel,
		connect: connect,
		logger:  logger,
		subs:    fanout.New(subscriberBuffer),
		done:    make(chan struct{}),
	}
}

// subscribe adds a subscriber until ctx is done, starting the listening
// connection if it is the first.
func (l *listener) subscribe(ctx context.Context) (<-chan string, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("listening for inserts: store closed")
	}
	if l.cancel == nil {
		runCtx, cancel := context.WithCancel(context.Background())
		l.cancel = cancel
		go l.run(runCtx)
	}
	ch, err := l.subs.Subscribe(ctx)
	if err != nil { // cannot happen: l.subs is closed only with l.closed, under l.mu
		l.mu.Unlock()
		return nil, fmt.Errorf("listening for inserts: %w", err)
	}
	if l.up {
		l.mu.Unlock()
		return ch, nil
	}
	wait := make(chan error, 1)
	l.waiters = append(l.waiters, wait)
	l.mu.Unlock()

	select {
	case err = <-wait:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		l.subs.Unsubscribe(ch)
		return nil, fmt.Errorf("listening for inserts: %w", err)
	}
	return ch, nil
}

// setUp records whether the connection is listening, and gives waiting
// subscribers the attempt's outcome (err nil: listening).
func (l *listener) setUp(up bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.up = up
	if !up && err == nil {
		return // a listening connection was lost: wait for the next attempt
	}
	for _, w := range l.waiters {
		w <- err
	}
	l.waiters = nil
}

// close stops the connection and closes every subscriber's channel.
func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	l.subs.Close()
	for _, w := range l.waiters {
		w <- errors.New("store closed")
	}
	l.waiters = nil
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-l.done
	}
}

// run keeps a listening connection until ctx is done, reconnecting with
// backoff.
func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := listenerMinBackoff
	for {
		listened, err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			l.setUp(false, nil)
		} else {
			l.setUp(false, err)
		}
		if listened {
			backoff = listenerMinBackoff
		}
		// Full jitter: processes that lost the server together do not
		// reconnect together.
		wait := backoff/2 + rand.N(backoff/2+1)
		l.logger.Warn("boiler: insert listener lost its connection; reconnecting",
			"channel", l.channel, "in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, listenerMaxBackoff)
	}
}

// listen connects, LISTENs and fans notifications out until the
// connection fails or ctx is done. listened reports whether LISTEN
// succeeded (so the next failure starts a fresh backoff).
func (l *listener) listen(ctx context.Context) (listened bool, err error) {
	conn, err := l.connect(ctx)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("LISTEN: %w", err)
	}
	l.setUp(true, nil)
	for {
		waitCtx, cancel := context.WithTimeout(ctx, listenerHealthInterval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err == nil:
			l.subs.Send(n.Payload)
		case pgconn.Timeout(err):
			if err := conn.Ping(ctx); err != nil {
				return true, fmt.Errorf("ping: %w", err)
			}
		default:
			return true, fmt.Errorf("waiting for notifications: %w", err)
		}
	}
}
