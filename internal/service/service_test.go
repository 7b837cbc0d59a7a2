package service

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoopStartStop(t *testing.T) {
	t.Parallel()
	var l Loop
	l.Stop() // before Start: nothing to do
	ran := make(chan struct{})
	stopped := make(chan struct{})
	if err := l.Start(context.Background(), func(ctx context.Context) {
		close(ran)
		<-ctx.Done()
		close(stopped)
	}); err != nil {
		t.Fatal(err)
	}
	<-ran
	if err := l.Start(context.Background(), func(context.Context) {}); err == nil {
		t.Fatal("second Start: no error")
	}
	l.Stop()
	select {
	case <-stopped:
	default:
		t.Fatal("Stop returned before the loop did")
	}
	l.Stop() // again: fine
}

func TestJitter(t *testing.T) {
	t.Parallel()
	const d = time.Second
	lo, hi := d, d
	for range 1000 {
		j := Jitter(d, 0.1)
		if j < 900*time.Millisecond || j > 1100*time.Millisecond {
			t.Fatalf("Jitter(1s, 0.1) = %s, out of ±10%%", j)
		}
		lo, hi = min(lo, j), max(hi, j)
	}
	if hi-lo < 100*time.Millisecond {
		t.Fatalf("1000 jitters spread over only %s", hi-lo)
	}
	if Jitter(0, 0.5) != 0 || Jitter(d, 0) != d {
		t.Fatal("Jitter of zero duration or fraction must not change it")
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep with a live ctx returned false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) || time.Since(start) > time.Second {
		t.Fatal("Sleep did not return at once on a done ctx")
	}
}
