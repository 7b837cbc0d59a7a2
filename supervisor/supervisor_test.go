package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Three processes write 100,000 lines each, in different ways (one write
// per line; big buffered blocks that cut lines; lines over 64 KiB), and a
// last line without a newline: every line arrives whole, in order, once.
func TestLogLinesAllArriveNoneTorn(t *testing.T) {
	t.Parallel()
	const n = 100000
	src := fmt.Sprintf(`a: i=0; while [ $i -lt %[1]d ]; do echo "a $i"; i=$((i+1)); done; printf 'a-last-without-newline'
b: seq 0 %[2]d | sed 's/^/b /'
c: awk 'BEGIN { s = "y"; while (length(s) < 70000) s = s s; for (i = 0; i < %[1]d; i++) if (i %% 10000 == 0) print "c " i " " s; else print "c " i }'
`, n, n-1)
	b := setup(t, src, nil)
	if err := b.wait(t, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{"a": 0, "b": 0, "c": 0}
	line := regexp.MustCompile(`^([abc])\.1    \| ([abc]) (\d+)( y+)?$`)
	sc := bufio.NewScanner(strings.NewReader(b.out.String()))
	sc.Buffer(nil, 1<<20)
	sawLast := false
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "boiler | ") {
			continue
		}
		if l == "a.1    | a-last-without-newline" {
			sawLast = true
			continue
		}
		m := line.FindStringSubmatch(l)
		if m == nil || m[1] != m[2] {
			t.Fatalf("torn or foreign line: %.200q", l)
		}
		i, _ := strconv.Atoi(m[3])
		if i != next[m[1]] {
			t.Fatalf("%s: line %d after %d", m[1], i, next[m[1]]-1)
		}
		if long := m[1] == "c" && i%10000 == 0; long != (m[4] != "") || long && len(m[4]) < 65537 {
			t.Fatalf("c line %d: long part of %d bytes", i, len(m[4]))
		}
		next[m[1]]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for p, got := range next {
		if got != n {
			t.Errorf("%s: %d lines arrived, want %d", p, got, n)
		}
	}
	if !sawLast {
		t.Error("the last line without a newline was lost")
	}
}

// A partial line (a prompt) is written after FlushDelay, while the process
// still runs; a line longer than MaxLineLength is cut, nothing lost.
func TestPartialAndOverlongLines(t *testing.T) {
	t.Parallel()
	b := setup(t, "p: printf 'prompt> '; sleep 1; printf '%0100d\\n' 0; exec sleep 987100\n", func(o *Options) { o.MaxLineLength = 64 })
	b.waitOutput(t, "p.1    | prompt> \n")
	b.waitOutput(t, "p.1    | "+strings.Repeat("0", 64)+"\np.1    | "+strings.Repeat("0", 36)+"\n")
	b.sigs <- syscall.SIGTERM
	if err := b.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// A child that ignores SIGTERM is SIGKILLed after the timeout; a repeated
// SIGTERM (the platform sends several) does not cut the timeout short.
func TestIgnoresSIGTERMKilledAfterTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	b := setup(t, "stubborn: trap '' TERM; echo ready; sleep 987201\npolite: exec sleep 987202\n", func(o *Options) { o.Timeout = timeout })
	b.waitOutput(t, "stubborn.1 | ready")
	start := time.Now()
	b.sigs <- syscall.SIGTERM
	b.waitOutput(t, "polite.1 stopped (killed by SIGTERM)")
	b.sigs <- syscall.SIGTERM
	b.sigs <- syscall.SIGHUP
	if err := b.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run after a requested stop = %v, want nil", err)
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("stopped after %s: a repeated SIGTERM killed before the %s timeout", took, timeout)
	} else if took > timeout+2*time.Second {
		// The killed shell's child is a zombie until PID 1 reaps it, which
		// may be late: the stop must not wait for it.
		t.Fatalf("stopped after %s, long after the SIGKILL at %s", took, timeout)
	}
	out := b.out.String()
	for _, want := range []string{"SIGTERM received again: still stopping", "stubborn.1: SIGKILL to process group", "stubborn.1 stopped (killed by SIGKILL)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	noneLeft(t, "987201")
}

// A second SIGINT kills at once.
func TestSecondSIGINTKillsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, "stubborn: trap '' TERM INT; echo ready; sleep 987301\n", func(o *Options) { o.Timeout = 30 * time.Second })
	b.waitOutput(t, "stubborn.1 | ready")
	start := time.Now()
	b.sigs <- os.Interrupt
	b.waitOutput(t, "SIGINT: sending SIGTERM")
	b.sigs <- os.Interrupt
	if err := b.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("second SIGINT took %s", took)
	}
	if !strings.Contains(b.out.String(), "second SIGINT: killing every process now") {
		t.Errorf("output:\n%s", b.out.String())
	}
	noneLeft(t, "987301")
}

// Grandchildren die with their group: a background `sleep` left by a
// stopped process, and one left by a process that crashed.
func TestNoOrphans(t *testing.T) {
	t.Parallel()
	b := setup(t, "bg: sleep 987401 & echo started; wait\ncrasher: sleep 987402 & sleep 0.3; exit 3\n", func(o *Options) { o.Restart = RestartNever })
	err := b.wait(t, 20*time.Second)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 || ee.Process != "crasher.1" {
		t.Fatalf("Run = %v, want crasher.1's exit status 3", err)
	}
	noneLeft(t, "987401")
	noneLeft(t, "987402")
}

// The exit status of a process killed by a signal is 128 + the signal.
func TestExitStatusOfSignalledProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, "victim: sleep 0.2; kill -KILL $$\nother: exec sleep 987501\n", func(o *Options) { o.Restart = RestartNever })
	err := b.wait(t, 20*time.Second)
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 137 {
		t.Fatalf("Run = %v, want exit status 137", err)
	}
	if !strings.Contains(b.out.String(), "victim.1 exited (killed by SIGKILL)") || !strings.Contains(b.out.String(), "other.1 stopped") {
		t.Errorf("output:\n%s", b.out.String())
	}
}

// The platform signals every process at once: a child that exits on the
// platform's SIGTERM just before the supervisor gets its own is neither
// restarted nor reported as a crash, and the status is 0.
func TestPlatformSIGTERMIsNotACrash(t *testing.T) {
	t.Parallel()
	b := setup(t, "web: echo ready; exec sleep 987601\n", func(o *Options) { o.SettleDelay = 2 * time.Second })
	b.waitOutput(t, "web.1  | ready")
	ps, err := b.sup.Processes()
	if err != nil || len(ps) != 1 || ps[0].PID == 0 {
		t.Fatalf("Processes = %+v, %v", ps, err)
	}
	if err := syscall.Kill(ps[0].PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	b.sigs <- syscall.SIGTERM
	if err := b.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	out := b.out.String()
	if strings.Contains(out, "crashed") || strings.Contains(out, "restarting") || !strings.Contains(out, "web.1 exited during the stop (killed by SIGTERM)") {
		t.Errorf("output:\n%s", out)
	}
}

// PORT follows foreman (base + 100 × position + instance - 1) except that
// a lone web gets the platform's $PORT; PS names the process; the given
// environment reaches the processes.
func TestPortsAndEnv(t *testing.T) {
	t.Parallel()
	src := "web: echo \"port=$PORT ps=$PS x=$X t=$BOILER_STOP_TIMEOUT\"\nworker: echo \"port=$PORT ps=$PS x=$X\"\n"
	for _, tc := range []struct {
		web  int
		want []string
	}{
		{1, []string{"web.1    | port=6123 ps=web.1 x=1 t=5s", "worker.1 | port=5100 ps=worker.1 x=1", "worker.2 | port=5101 ps=worker.2 x=1"}},
		{2, []string{"web.1    | port=5000 ps=web.1", "web.2    | port=5001 ps=web.2", "worker.2 | port=5101 ps=worker.2"}},
	} {
		b := setup(t, src, func(o *Options) {
			o.Formation = map[string]int{"web": tc.web, "worker": 2}
			o.PlatformPort = 6123
			o.Env = []string{"X=1", "PORT=9", "PS=nope"}
		})
		if err := b.wait(t, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.out.String(), w) {
				t.Errorf("web=%d: output lacks %q:\n%s", tc.web, w, b.out.String())
			}
		}
	}
}

// A crashed process restarts after 2s, 4s, then the cap; a minute of
// uptime resets the backoff. Time is a fake clock.
func TestRestartBackoff(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	const settle = 7 * time.Millisecond
	b := setup(t, "crash: echo run; test -f stay && exec sleep 987701; exit 3\n", func(o *Options) {
		o.Clock = clk
		o.SettleDelay = settle
		o.RestartDelay = 2 * time.Second
		o.RestartDelayMax = 5 * time.Second
		o.RestartReset = time.Minute
		o.Timeout = 3 * time.Second
	})
	starts := func() int { return strings.Count(b.out.String(), "crash.1 started") }
	want := 1
	// whileSettling runs once the crash has happened, before the restart.
	crashAndWait := func(nth int, delay time.Duration, whileSettling ...func()) {
		t.Helper()
		eventually(t, 10*time.Second, func() bool { return clk.pending(settle) }, "the exit to be settling")
		for _, f := range whileSettling {
			f()
		}
		clk.Advance(settle)
		b.waitOutput(t, fmt.Sprintf("restarting in %s (crash %d in a row)", delay, nth))
		eventually(t, 10*time.Second, func() bool { return clk.pending(delay) }, "the restart timer")
		clk.Advance(delay - time.Millisecond)
		time.Sleep(50 * time.Millisecond)
		if starts() != want {
			t.Fatalf("restarted before its %s backoff:\n%s", delay, b.out.String())
		}
		clk.Advance(time.Millisecond)
		want++
		eventually(t, 10*time.Second, func() bool { return starts() == want }, "restart %d; output:\n%s", want-1, b.out.String)
	}
	crashAndWait(1, 2*time.Second)
	crashAndWait(2, 4*time.Second)
	crashAndWait(3, 5*time.Second)
	crashAndWait(4, 5*time.Second)
	// Now stay up for a minute of fake time, then crash: back to 2s. The
	// file that keeps the next start up is written only once the fifth
	// crash has happened: written earlier, a slow shell could find it before
	// crashing (TestRestartBackoff flaked under load that way).
	crashAndWait(5, 5*time.Second, func() {
		if err := os.WriteFile(b.dir+"/stay", nil, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	eventually(t, 10*time.Second, func() bool { return len(pidsWith("987701")) == 1 }, "the process to stay up")
	clk.Advance(61 * time.Second)
	if err := os.Remove(b.dir + "/stay"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pidsWith("987701")[0], syscall.SIGKILL)
	crashAndWait(1, 2*time.Second)
	ps, err := b.sup.Processes()
	if err != nil || ps[0].Restarts != 6 {
		t.Fatalf("Processes = %+v, %v; want 6 restarts", ps, err)
	}
	b.sigs <- syscall.SIGTERM
	if err := b.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

// Scale changes the running formation: up starts instances, down stops the
// highest-numbered ones; the control socket does the same for other
// processes.
func TestScaleAndControlSocket(t *testing.T) {
	t.Parallel()
	sock := t.TempDir() + "/ctl.sock"
	b := setup(t, "web: exec sleep 987801\nworker: echo up $PS; exec sleep 987802\n", func(o *Options) {
		o.Formation = map[string]int{"web": 1, "worker": 1}
		o.ControlSocket = sock
		o.Timeout = time.Second
	})
	b.waitOutput(t, "worker.1 | up worker.1")
	ctx := context.Background()
	c, err := Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.Scale(ctx, "worker", 3)
	if err != nil || f["worker"] != 3 || f["web"] != 1 {
		t.Fatalf("Scale = %v, %v", f, err)
	}
	b.waitOutput(t, "worker.3 | up worker.3")
	ps, f, err := c.Processes(ctx)
	if err != nil || len(ps) != 4 || f["worker"] != 3 {
		t.Fatalf("Processes = %+v, %v, %v", ps, f, err)
	}
	for i, p := range ps {
		want := []string{"web.1", "worker.1", "worker.2", "worker.3"}[i]
		if p.Name != want || p.State != "running" || p.PID == 0 || p.RSS <= 0 || p.Started.IsZero() {
			t.Errorf("process %d = %+v, want %s running with a pid and RSS", i, p, want)
		}
	}
	if _, err := c.Scale(ctx, "wrker", 1); err == nil || !strings.Contains(err.Error(), `unknown process type "wrker"`) {
		t.Errorf("Scale(wrker) = %v", err)
	}
	if err := b.sup.Scale("worker", 1); err != nil {
		t.Fatal(err)
	}
	b.waitOutput(t, "worker.3 stopped")
	b.waitOutput(t, "worker.2 stopped")
	eventually(t, 5*time.Second, func() bool { return len(pidsWith("987802")) == 1 }, "one worker left")
	ps, _, err = c.Processes(ctx)
	if err != nil || len(ps) != 2 || ps[1].Name != "worker.1" {
		t.Fatalf("after scaling down: %+v, %v", ps, err)
	}
	b.sigs <- syscall.SIGTERM
	if err := b.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
	if err := b.sup.Scale("worker", 2); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Scale after Run = %v, want ErrNotRunning", err)
	}
}

// A second supervisor on the same socket path takes it over; the first
// does not remove it when it stops.
func TestControlSocketTakeover(t *testing.T) {
	t.Parallel()
	sock := t.TempDir() + "/ctl.sock"
	outer := setup(t, "a: exec sleep 987901\n", func(o *Options) { o.ControlSocket = sock })
	outer.waitOutput(t, "a.1 started")
	inner := setup(t, "b: exec sleep 987902\n", func(o *Options) { o.ControlSocket = sock })
	inner.waitOutput(t, "it is now this one's")
	outer.sigs <- syscall.SIGTERM
	if err := outer.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.Formation(context.Background())
	if err != nil || f["b"] != 1 {
		t.Fatalf("Formation = %v, %v; want the inner supervisor's", f, err)
	}
	inner.sigs <- syscall.SIGTERM
	if err := inner.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestOptionsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "Entries is empty"},
		{Options{Entries: entries("web")}, ""},
		{Options{Entries: entries("web"), Formation: map[string]int{"wbe": 1}}, `unknown process type "wbe"`},
		{Options{Entries: entries("web"), Formation: map[string]int{"web": -1}}, "negative"},
		{Options{Entries: entries("web"), Restart: "sometimes"}, `restart policy "sometimes"`},
		{Options{Entries: entries("web"), Port: 65500}, "Port 65500"},
		{Options{Entries: entries("web"), Timeout: -time.Second}, "Timeout -1s is negative"},
	} {
		_, err := New(tc.opts)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("New(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	var got []time.Duration
	for n := 1; n <= 8; n++ {
		got = append(got, backoff(n, time.Second, time.Minute))
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoff = %v, want %v seconds", got, want)
		}
	}
}
