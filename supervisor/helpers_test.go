package supervisor

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/procfile"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a goroutine-safe output for a Supervisor under test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bundle is one supervisor under test, running.
type bundle struct {
	sup  *Supervisor
	out  *syncBuffer
	sigs chan os.Signal
	done chan error // Run's result
	dir  string
}

// setup parses procfile, applies mod to the options and starts Run.
func setup(t *testing.T, src string, mod func(*Options)) *bundle {
	t.Helper()
	entries, err := procfile.Parse(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{out: &syncBuffer{}, sigs: make(chan os.Signal, 4), done: make(chan error, 1), dir: t.TempDir()}
	opts := Options{Entries: entries, Output: b.out, Dir: b.dir, Env: os.Environ(), Timeout: 5 * time.Second, SettleDelay: 20 * time.Millisecond, FlushDelay: 50 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	if b.sup, err = New(opts); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.sup.Run(context.Background(), b.sigs) }()
	t.Cleanup(func() {
		select {
		case <-b.done:
		default:
			b.sigs <- os.Interrupt
			b.sigs <- os.Interrupt
			<-b.done
		}
	})
	return b
}

// wait returns Run's error, failing the test after d.
func (b *bundle) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-b.done:
		b.done <- err // for Cleanup
		return err
	case <-time.After(d):
		t.Fatalf("Run did not return within %s; output:\n%s", d, tail(b.out.String()))
		return nil
	}
}

// waitOutput waits until the output contains s.
func (b *bundle) waitOutput(t *testing.T, s string) {
	t.Helper()
	eventually(t, 10*time.Second, func() bool { return strings.Contains(b.out.String(), s) }, "output to contain %q; output:\n%s", s, func() string { return tail(b.out.String()) })
}

func eventually(t *testing.T, d time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() string); ok {
					args[i] = f()
				}
			}
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// pidsWith lists the processes whose command line contains marker.
func pidsWith(marker string) []int {
	var pids []int
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
		if pid != os.Getpid() && !isZombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// noneLeft fails unless no process with marker remains (after a moment for
// the kernel to finish the kills).
func noneLeft(t *testing.T, marker string) {
	t.Helper()
	eventually(t, 3*time.Second, func() bool { return len(pidsWith(marker)) == 0 }, "no process with %q to be left; left: %s", marker, func() string { return fmtInts(pidsWith(marker)) })
}

func fmtInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	when    time.Time
	d       time.Duration
	f       func()
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, when: c.now.Add(d), d: d, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

// Advance moves the clock by d and runs the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.fired && !t.when.After(c.now) {
			t.fired = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *fakeTimer) int { return a.when.Compare(b.when) })
	for _, t := range due {
		t.f()
	}
}

// pending reports whether a timer of duration d is armed.
func (c *fakeClock) pending(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if t.d == d && !t.stopped && !t.fired {
			return true
		}
	}
	return false
}

func entries(names ...string) []procfile.Entry {
	var out []procfile.Entry
	for i, n := range names {
		out = append(out, procfile.Entry{Name: n, Command: "true", Line: i + 1})
	}
	return out
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
