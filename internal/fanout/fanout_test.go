package fanout_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/doubleboiler/boiler/internal/fanout"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// subscribe subscribes to s until the test ends.
func subscribe(t *testing.T, s *fanout.Set) <-chan string {
	t.Helper()
	ch, err := s.Subscribe(t.Context())
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return ch
}

// receive returns the value waiting in ch, failing if there is none.
func receive(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatal("channel closed, want a value")
		}
		return v
	default:
		t.Fatal("no value waiting in the channel")
		return ""
	}
}

// empty fails if a value waits in ch or ch is closed.
func empty(t *testing.T, ch <-chan string) {
	t.Helper()
	select {
	case v, ok := <-ch:
		t.Fatalf("received %q (open: %v), want nothing", v, ok)
	default:
	}
}

// closed fails unless ch is closed within a few seconds, after any values
// waiting in it.
func closed(t *testing.T, ch <-chan string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}

func TestSendReachesEverySubscriber(t *testing.T) {
	t.Parallel()
	s := fanout.New(1)
	defer s.Close()
	chs := make([]<-chan string, 5)
	for i := range chs {
		chs[i] = subscribe(t, s)
	}
	if got := s.Len(); got != len(chs) {
		t.Fatalf("Len = %d, want %d", got, len(chs))
	}
	s.Send("emails")
	for i, ch := range chs {
		if got := receive(t, ch); got != "emails" {
			t.Errorf("subscriber %d received %q, want %q", i, got, "emails")
		}
	}
}

func TestSendDoesNotBlockOnAFullChannel(t *testing.T) {
	t.Parallel()
	s := fanout.New(2)
	defer s.Close()
	slow := subscribe(t, s) // never read until the end
	fast := subscribe(t, s)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, q := range []string{"a", "b", "c", "d"} {
			s.Send(q)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked on a full channel")
	}
	// The buffer of two kept the first two; the rest were dropped.
	for _, ch := range []<-chan string{slow, fast} {
		if a, b := receive(t, ch), receive(t, ch); a != "a" || b != "b" {
			t.Errorf("received %q, %q; want %q, %q", a, b, "a", "b")
		}
		empty(t, ch)
	}
}

func TestZeroValueHasABufferOfOne(t *testing.T) {
	t.Parallel()
	var s fanout.Set
	defer s.Close()
	ch := subscribe(t, &s)
	s.Send("a")
	s.Send("b")
	if got := receive(t, ch); got != "a" {
		t.Fatalf("received %q, want %q", got, "a")
	}
	empty(t, ch)
}

func TestCancelClosesOnlyThatChannel(t *testing.T) {
	t.Parallel()
	s := fanout.New(1)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	gone, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	kept := subscribe(t, s)
	cancel()
	closed(t, gone)
	if got := s.Len(); got != 1 {
		t.Fatalf("Len after cancel = %d, want 1", got)
	}
	s.Send("a")
	if got := receive(t, kept); got != "a" {
		t.Fatalf("remaining subscriber received %q, want %q", got, "a")
	}
}

func TestSubscribeWithADoneContextClosesTheChannel(t *testing.T) {
	t.Parallel()
	s := fanout.New(1)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ch, err := s.Subscribe(ctx)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	closed(t, ch)
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	s := fanout.New(1)
	defer s.Close()
	ch := subscribe(t, s)
	s.Unsubscribe(ch)
	s.Unsubscribe(ch) // a second time does nothing
	closed(t, ch)
	if got := s.Len(); got != 0 {
		t.Fatalf("Len after Unsubscribe = %d, want 0", got)
	}
	s.Send("a") // must not panic on the closed channel
}

func TestCloseClosesEveryChannel(t *testing.T) {
	t.Parallel()
	s := fanout.New(1)
	a, b := subscribe(t, s), subscribe(t, s)
	s.Close()
	for _, ch := range []<-chan string{a, b} {
		select {
		case _, ok := <-ch:
			if ok {
				t.Fatal("received a value, want the channel closed")
			}
		default:
			t.Fatal("channel still open right after Close")
		}
	}
	if got := s.Len(); got != 0 {
		t.Fatalf("Len after Close = %d, want 0", got)
	}
	s.Close() // a second time does nothing
	s.Send("a")
	if _, err := s.Subscribe(t.Context()); !errors.Is(err, fanout.ErrClosed) {
		t.Fatalf("Subscribe after Close: err = %v, want ErrClosed", err)
	}
}

// TestConcurrentUse is for -race: senders, subscribers and cancellations
// at once, then Close. Every channel must end closed.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	s := fanout.New(4)
	stop := make(chan struct{})
	var senders sync.WaitGroup
	for range 2 {
		senders.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					s.Send("q")
				}
			}
		})
	}
	var subscribers sync.WaitGroup
	for i := range 8 {
		subscribers.Go(func() {
			for range 50 {
				ctx, cancel := context.WithCancel(t.Context())
				ch, err := s.Subscribe(ctx)
				if err != nil {
					cancel()
					t.Errorf("Subscribe: %v", err)
					return
				}
				if i%2 == 0 {
					<-ch // a sender is running: a value comes
				}
				cancel()
				for range ch { // drain until the set closes it
				}
			}
		})
	}
	subscribers.Wait()
	close(stop)
	senders.Wait()
	if got := s.Len(); got != 0 {
		t.Errorf("Len after every context was cancelled = %d, want 0", got)
	}
	s.Close()
}
