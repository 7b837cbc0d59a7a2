// Package service is the common shape of the worker's long-running parts
// (completer, heartbeater, rescuer, cleaner): a loop in one goroutine,
// started by Start and stopped (cancelled, then waited for) by Stop.
package service

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Loop runs one service's loop in a goroutine. The zero value is ready to
// use; a Loop runs once (Start after Stop is an error).
type Loop struct {
	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start runs fn in a new goroutine with a context derived from ctx that
// Stop cancels. It returns an error if the loop was already started.
func (l *Loop) Start(ctx context.Context, fn func(ctx context.Context)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started {
		return errors.New("service already started")
	}
	l.started = true
	ctx, l.cancel = context.WithCancel(ctx)
	l.done = make(chan struct{})
	go func() {
		defer close(l.done)
		fn(ctx)
	}()
	return nil
}

// Stop cancels the loop's context and waits for fn to return. It is a
// no-op if the loop never started, and safe to call more than once.
func (l *Loop) Stop() {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
}

// Jitter returns d changed by a random amount of up to ±frac·d, so that
// the periodic work of many workers started together spreads out.
func Jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return d
	}
	return d + time.Duration((rand.Float64()*2-1)*frac*float64(d))
}

// Sleep waits for d or until ctx is done, and reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
