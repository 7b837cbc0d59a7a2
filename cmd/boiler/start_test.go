package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/procfile"
	"go.uber.org/goleak"
)

// boilerBin is the boiler binary built by TestMain for the tests that need
// real processes (nesting, PID 1, signals from outside).
var boilerBin string

// TestMain builds the binary once for the package's tests, and checks for
// leaked goroutines. (It is the package's one TestMain.)
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "boiler-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	boilerBin = filepath.Join(dir, "boiler")
	if out, err := exec.Command("go", "build", "-o", boilerBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building boiler: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) { os.RemoveAll(dir) }))
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// started is a running `boiler` binary.
type started struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error
}

// startBoiler runs the binary in dir with args and extra environment; it is
// killed (group and all) at the end of the test if still running.
func startBoiler(t *testing.T, dir string, env []string, args ...string) *started {
	t.Helper()
	cmd := exec.Command(boilerBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"BOILER=" + boilerBin, "BOILER_SOCKET=" + filepath.Join(dir, "ctl.sock")}, env...)...)
	return startCmd(t, cmd)
}

// startCmd starts cmd in its own process group with its output collected;
// the group is killed at the end of the test if still running.
func startCmd(t *testing.T, cmd *exec.Cmd) *started {
	t.Helper()
	s := &started{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
	return s
}

func (s *started) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(s.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in:\n%s", want, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exitCode waits for the binary and returns its exit status.
func (s *started) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(within):
		t.Fatalf("boiler did not exit within %s:\n%s", within, s.out.String())
	}
	if s.err == nil {
		return 0
	}
	if ee, ok := s.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatal(s.err)
	return -1
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pidsWith lists live processes whose command line contains marker.
func pidsWith(marker string) []int {
	var pids []int
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
		if st, _ := procStat(pid); st.state != 'Z' && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

type stat struct {
	state byte
	ppid  int
}

func procStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+2:]))
	ppid, _ := strconv.Atoi(f[1])
	return stat{state: f[0][0], ppid: ppid}, nil
}

// descendants lists pid's descendants.
func descendants(pid int) []int {
	children := map[int][]int{}
	paths, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range paths {
		n, _ := strconv.Atoi(filepath.Base(p))
		if st, err := procStat(n); err == nil {
			children[st.ppid] = append(children[st.ppid], n)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, children[p]...)
		queue = append(queue, children[p]...)
	}
	return out
}

func noneLeft(t *testing.T, markers ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for _, m := range markers {
		for len(pidsWith(m)) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("processes with %q left: %v", m, pidsWith(m))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// The double boiler: the outer `boiler start` runs `boiler start -f
// Procfile.local` as web. The inner web gets the platform's $PORT, and a
// SIGTERM to the outer (or, as a platform does, to every process at once,
// twice) stops every process at every level within the outer's timeout,
// without the outer having to SIGKILL anything.
func TestStartNested(t *testing.T) {
	t.Parallel()
	for _, platform := range []bool{false, true} {
		t.Run(fmt.Sprintf("signal-everyone=%v", platform), func(t *testing.T) {
			t.Parallel()
			web, worker := "986001", "986002"
			if platform {
				web, worker = "986011", "986012"
			}
			dir := writeFiles(t, map[string]string{
				"Procfile": "web: exec \"$BOILER\" start -f Procfile.local\n",
				"Procfile.local": "web: echo \"inner web port=$PORT ps=$PS\"; exec sleep " + web + "\n" +
					"worker: trap '' TERM; echo \"inner worker up\"; sleep " + worker + "\n",
			})
			const outerTimeout = 5 * time.Second
			b := startBoiler(t, dir, []string{"PORT=7345"}, "start", "-t", "5s")
			b.waitOutput(t, "inner web port=7345 ps=web.1")
			b.waitOutput(t, "inner worker up")
			start := time.Now()
			if platform {
				all := append([]int{b.cmd.Process.Pid}, descendants(b.cmd.Process.Pid)...)
				for round := 0; round < 2; round++ {
					for _, pid := range all {
						syscall.Kill(pid, syscall.SIGTERM)
					}
					time.Sleep(200 * time.Millisecond)
				}
			} else {
				b.cmd.Process.Signal(syscall.SIGTERM)
			}
			if code := b.exitCode(t, 10*time.Second); code != 0 {
				t.Fatalf("exit status %d, want 0:\n%s", code, b.out.String())
			}
			took := time.Since(start)
			out := b.out.String()
			for _, line := range strings.Split(out, "\n") {
				if strings.HasPrefix(line, "boiler") && strings.Contains(line, "SIGKILL to") {
					t.Errorf("the outer supervisor had to kill: %s", line)
				}
				if strings.Contains(line, "crashed") || strings.Contains(line, "restarting") {
					t.Errorf("a stop was taken for a crash: %s", line)
				}
			}
			// The inner supervisor took 4/5 of the outer's timeout and
			// killed its stubborn worker itself.
			if !strings.Contains(out, "stop timeout 4s") || !strings.Contains(out, "worker.1: SIGKILL to process group") {
				t.Errorf("output:\n%s", out)
			}
			if took > outerTimeout {
				t.Errorf("the stop took %s, more than the outer timeout %s:\n%s", took, outerTimeout, out)
			}
			noneLeft(t, web, worker)
		})
	}
}

// With --restart never the first exit stops everything and its status is
// boiler's; an orphan left by a process dies with its group.
func TestStartExitStatus(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"Procfile": "a: sleep 986105 & sleep 0.3; exit 7\nb: exec sleep 986101\n"})
	b := startBoiler(t, dir, nil, "start", "--restart", "never", "-t", "5")
	if code := b.exitCode(t, 15*time.Second); code != 7 {
		t.Fatalf("exit status %d, want 7:\n%s", code, b.out.String())
	}
	noneLeft(t, "986101", "986105")
}

// Through the real binary (main's signal context included): a repeated
// SIGTERM waits for the timeout, a second SIGINT kills at once.
func TestStartSignals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sigs      []syscall.Signal
		timeout   string
		minTook   time.Duration
		maxTook   time.Duration
		wantInLog string
	}{
		{[]syscall.Signal{syscall.SIGTERM, syscall.SIGTERM, syscall.SIGTERM}, "2", 2 * time.Second, 6 * time.Second, "SIGTERM received again: still stopping"},
		{[]syscall.Signal{syscall.SIGINT, syscall.SIGINT}, "30", 0, 6 * time.Second, "second SIGINT: killing every process now"},
		{[]syscall.Signal{syscall.SIGHUP}, "2", 2 * time.Second, 6 * time.Second, "SIGHUP: sending SIGTERM to all processes"},
	} {
		t.Run(tc.sigs[0].String()+"x"+strconv.Itoa(len(tc.sigs)), func(t *testing.T) {
			t.Parallel()
			marker := strconv.Itoa(986500 + int(tc.sigs[0])*10 + len(tc.sigs))
			dir := writeFiles(t, map[string]string{"Procfile": "stubborn: trap '' TERM INT HUP; echo ready; sleep " + marker + "\n"})
			b := startBoiler(t, dir, nil, "start", "-t", tc.timeout)
			b.waitOutput(t, "stubborn.1 | ready")
			start := time.Now()
			for i, sig := range tc.sigs {
				if i > 0 {
					time.Sleep(100 * time.Millisecond)
				}
				b.cmd.Process.Signal(sig)
			}
			if code := b.exitCode(t, 15*time.Second); code != 0 {
				t.Fatalf("exit status %d:\n%s", code, b.out.String())
			}
			if took := time.Since(start); took < tc.minTook || took > tc.maxTook {
				t.Errorf("stopped after %s, want between %s and %s:\n%s", took, tc.minTook, tc.maxTook, b.out.String())
			}
			if !strings.Contains(b.out.String(), tc.wantInLog) {
				t.Errorf("output lacks %q:\n%s", tc.wantInLog, b.out.String())
			}
			noneLeft(t, marker)
		})
	}
}

// `boiler scale` changes the running formation, `boiler ps` shows it.
func TestStartScaleAndPs(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"Procfile": "web: exec sleep 986201\nworker: echo \"up $PS\"; exec sleep 986202\n"})
	b := startBoiler(t, dir, nil, "start", "-t", "2")
	b.waitOutput(t, "up worker.1")
	run := func(args ...string) (string, error) {
		c := exec.Command(boilerBin, args...)
		c.Dir = dir
		c.Env = append(os.Environ(), "BOILER_SOCKET="+filepath.Join(dir, "ctl.sock"))
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if out, err := run("scale", "worker=3"); err != nil || !strings.Contains(out, "formation: web=1 worker=3") {
		t.Fatalf("scale worker=3: %v\n%s", err, out)
	}
	b.waitOutput(t, "up worker.3")
	out, err := run("ps")
	if err != nil {
		t.Fatalf("ps: %v\n%s", err, out)
	}
	for _, name := range []string{"web.1", "worker.1", "worker.2", "worker.3"} {
		if !strings.Contains(out, name+" ") || !strings.Contains(out, "running") {
			t.Errorf("ps lacks %s running:\n%s", name, out)
		}
	}
	if out, err := run("scale", "worker=1", "wrker=2"); err == nil || !strings.Contains(out, `unknown process type "wrker"`) {
		t.Errorf("scale with a typo: %v\n%s", err, out)
	}
	if out, err := run("scale", "worker=1"); err != nil {
		t.Fatalf("scale worker=1: %v\n%s", err, out)
	}
	b.waitOutput(t, "worker.2 stopped")
	b.waitOutput(t, "worker.3 stopped")
	if out, _ := run("ps", "--json"); strings.Contains(out, "worker.2") || !strings.Contains(out, `"worker": 1`) {
		t.Errorf("ps --json after scaling down:\n%s", out)
	}
	b.cmd.Process.Signal(syscall.SIGINT)
	if code := b.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, b.out.String())
	}
	noneLeft(t, "986201", "986202")
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []int {
	var out []int
	for _, c := range descendants(pid) {
		if st, err := procStat(c); err == nil && st.state == 'Z' && st.ppid == pid {
			out = append(out, c)
		}
	}
	return out
}

// As a subreaper, boiler is the parent of orphaned descendants and reaps
// them.
func TestStartSubreaperReapsOrphans(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"Procfile": "orphans: for i in 1 2 3; do sh -c 'sleep 0.2 &'; done; echo spawned; exec sleep 986301\n"})
	b := startBoiler(t, dir, nil, "start", "--subreaper", "-t", "2")
	b.waitOutput(t, "spawned")
	time.Sleep(time.Second)
	if z := zombiesOf(b.cmd.Process.Pid); len(z) != 0 {
		t.Errorf("zombie children of boiler: %v", z)
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	if code := b.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, b.out.String())
	}
}

// As PID 1 (in a new PID namespace) boiler reaps everything with one loop,
// and every exit status still reaches its process.
func TestStartAsPID1(t *testing.T) {
	t.Parallel()
	if err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").Run(); err != nil {
		t.Skipf("cannot make a PID namespace here (unshare: %v)", err)
	}
	dir := writeFiles(t, map[string]string{"Procfile": "" +
		"orphans: for i in 1 2 3; do sh -c 'sleep 0.1 &'; done; echo \"pid1=$(cat /proc/1/comm)\"; sleep 1; exit 7\n" +
		"a: exit 3\n" +
		"b: sleep 0.3; exit 4\n" +
		"c: exec sleep 986401\n"})
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", boilerBin, "start", "--restart", "always", "-t", "2")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BOILER_SOCKET="+filepath.Join(dir, "pid1.sock"))
	s := startCmd(t, cmd)
	s.waitOutput(t, "pid1=boiler")
	for _, want := range []string{"a.1 crashed (exit status 3)", "b.1 crashed (exit status 4)", "orphans.1 crashed (exit status 7)"} {
		s.waitOutput(t, want)
	}
	// boiler is the child of unshare; orphans were reparented to it.
	kids := descendants(s.cmd.Process.Pid)
	if len(kids) == 0 {
		t.Fatal("no boiler under unshare")
	}
	boilerPid := kids[0]
	if z := zombiesOf(boilerPid); len(z) != 0 {
		t.Errorf("zombie children of boiler as PID 1: %v", z)
	}
	syscall.Kill(boilerPid, syscall.SIGTERM)
	if code := s.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("exit status %d:\n%s", code, s.out.String())
	}
	noneLeft(t, "986401")
}

func TestStartFormationAndTimeout(t *testing.T) {
	t.Parallel()
	entries := []procfile.Entry{{Name: "web"}, {Name: "worker"}, {Name: "clock"}}
	for _, tc := range []struct {
		m     string
		names []string
		want  string
	}{
		{"", nil, "clock=1 web=1 worker=1"},
		{"worker=3", nil, "clock=0 web=0 worker=3"},
		{"all=2", []string{"web"}, "clock=0 web=2 worker=0"},
		{"", []string{"worker", "clock"}, "clock=1 web=0 worker=1"},
		{"worker=0", []string{"worker"}, "clock=0 web=0 worker=1"},
		{"", []string{"wrker"}, `unknown process type "wrker"`},
		{"wrker=1", nil, `unknown process type "wrker"`},
	} {
		f, err := startFormation(entries, tc.m, tc.names)
		got := formationString(f)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("startFormation(%q, %v) = %s, want %s", tc.m, tc.names, got, tc.want)
		}
	}
	for _, tc := range []struct {
		flag string
		env  []string
		want time.Duration
	}{
		{"", nil, 25 * time.Second},
		{"10", nil, 10 * time.Second},
		{"1.5s", nil, 1500 * time.Millisecond},
		{"", []string{"BOILER_STOP_TIMEOUT=25s"}, 20 * time.Second},
		{"7", []string{"BOILER_STOP_TIMEOUT=25s"}, 7 * time.Second},
	} {
		if got, err := stopTimeout(tc.flag, tc.env); err != nil || got != tc.want {
			t.Errorf("stopTimeout(%q, %v) = %s, %v; want %s", tc.flag, tc.env, got, err, tc.want)
		}
	}
	if _, err := stopTimeout("soon", nil); err == nil {
		t.Error("stopTimeout(soon) did not fail")
	}
}

// runRoot runs the command tree in this process.
func runRoot(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}
