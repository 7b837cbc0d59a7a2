package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/doubleboiler/boiler/procfile"
)

// procState is where a process slot is in its life.
type procState int

const (
	stateRunning  procState = iota // its group may be alive (a run is in progress)
	stateSettling                  // exited unasked; judged after the settle delay
	stateBackoff                   // crashed; restarts when timer fires
	stateExited                    // done: stopped, or finished and not restarted
)

// proc is one instance of a process type ("worker.2"). It lives across
// restarts; each start makes a new run. Its fields are owned by the loop.
type proc struct {
	typ, name, command string
	num                int
	port               int
	out                *lineWriter

	state         procState
	run           *run      // the current or last run
	started       time.Time // of the current or last run
	stopRequested bool      // the supervisor asked it to stop: its exit is no crash
	retiring      bool      // scaled down: its slot is freed when it exits
	restarts      int       // since the supervisor started
	crashes       int       // in a row, for the backoff
	timer         Timer     // settle or backoff
	last          exitStatus
}

// run is one execution of a proc: the shell, its process group and its
// output pipe. The loop and the run's goroutines share it.
type run struct {
	pid, pgid int
	killer    Timer       // SIGKILL of a retiring process, owned by the loop
	termSent  atomic.Bool // SIGTERM already sent to the group
	gone      atomic.Bool // the group is empty: never signal its pgid again
}

// signal sends sig to the run's process group unless the group is known to
// be gone (its pgid could be reused) or, for SIGTERM, already got one (the
// platform may send several; the child should see ours only once). It
// reports whether the signal was sent.
func (r *run) signal(sig syscall.Signal) bool {
	if r.gone.Load() {
		return false
	}
	if sig == syscall.SIGTERM && r.termSent.Swap(true) {
		return false
	}
	return syscall.Kill(-r.pgid, sig) == nil
}

func (s *Supervisor) newProc(e procfile.Entry, num int) *proc {
	name := e.Name + "." + strconv.Itoa(num)
	color := colors[s.colorN%len(colors)]
	s.colorN++
	return &proc{
		typ: e.Name, name: name, command: e.Command, num: num,
		out: s.mux.writer(name, color, s.opts.FlushDelay, s.opts.MaxLineLength),
	}
}

// port is foreman's rule, except that a lone web gets the platform's $PORT.
func (s *Supervisor) portFor(p *proc) int {
	if p.typ == "web" && p.num == 1 && s.opts.PlatformPort != 0 && s.desired["web"] == 1 {
		return s.opts.PlatformPort
	}
	return s.opts.Port + 100*s.order[p.typ] + p.num - 1
}

// startProc starts a run of p. A process that cannot be started at all
// counts as a crash with status 127, like a shell's "command not found".
func (s *Supervisor) startProc(p *proc) {
	p.port = s.portFor(p)
	p.started = s.opts.Clock.Now()
	p.stopRequested = false
	p.state = stateRunning
	r, exited, pr, outDone, err := s.spawn(p)
	if err != nil {
		p.run = &run{}
		p.run.gone.Store(true)
		s.logf("%s failed to start: %v", p.name, err)
		s.onExit(p, exitStatus{ws: syscall.WaitStatus(127 << 8)})
		return
	}
	p.run = r
	s.logf("%s started (pid %d, port %d): %s", p.name, r.pid, p.port, p.command)
	s.wg.Add(1)
	go s.watch(p, r, exited, pr, outDone)
}

// spawn starts the shell for p in a new process group, its stdout and
// stderr on one pipe copied into p's log by a goroutine of its own.
func (s *Supervisor) spawn(p *proc) (*run, <-chan exitStatus, *os.File, <-chan struct{}, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("making an output pipe: %w", err)
	}
	defer pw.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		pr.Close()
		return nil, nil, nil, nil, fmt.Errorf("opening %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	env := append(s.env[:len(s.env):len(s.env)],
		EnvPort+"="+strconv.Itoa(p.port),
		EnvPS+"="+p.name,
		EnvStopTimeout+"="+s.opts.Timeout.String(),
	)
	attr := &os.ProcAttr{
		Dir:   s.opts.Dir,
		Env:   env,
		Files: []*os.File{devnull, pw, pw},
		Sys:   sysProcAttr(),
	}
	pid, exited, err := s.reap.start([]string{s.opts.Shell, "-c", p.command}, attr)
	if err != nil {
		pr.Close()
		return nil, nil, nil, nil, err
	}
	outDone := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(outDone)
		copyOutput(pr, p.out)
	}()
	// With Setpgid and no Pgid, the child's group id is its pid.
	return &run{pid: pid, pgid: pid}, exited, pr, outDone, nil
}

// copyOutput copies a process's output into its log until the pipe is
// closed, then writes its last partial line.
func copyOutput(pr *os.File, w *lineWriter) {
	defer pr.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	w.Flush()
}

// Polling for the end of a process group: a group has no exit event, and a
// shell that died on SIGTERM may leave a child that is still shutting down.
const (
	pollMin = 2 * time.Millisecond
	pollMax = 100 * time.Millisecond
	// drainWait bounds how long output is awaited after the group is gone:
	// a process that left the group (setsid) may hold the pipe forever.
	drainWait = time.Second
	// giveUpAfterKill bounds the wait for a group after SIGKILL (a member
	// stuck in an uninterruptible sleep, or a zombie nobody reaps).
	giveUpAfterKill = 5 * time.Second
)

// watch waits for the run's shell to be reaped, then for the rest of its
// process group (SIGTERM, then SIGKILL after the timeout: grandchildren
// die with their group, no orphan is left), then for its output, and posts
// the exit to the loop.
func (s *Supervisor) watch(p *proc, r *run, exited <-chan exitStatus, pr *os.File, outDone <-chan struct{}) {
	defer s.wg.Done()
	st := <-exited
	if groupAlive(r.pgid) {
		r.signal(syscall.SIGTERM)
		var killed atomic.Bool
		t := s.opts.Clock.AfterFunc(s.opts.Timeout, func() {
			killed.Store(true)
			r.signal(syscall.SIGKILL)
		})
		var killedAt time.Time
		for d := pollMin; groupAlive(r.pgid); d = min(2*d, pollMax) {
			if killed.Load() {
				if killedAt.IsZero() {
					killedAt = time.Now()
				} else if time.Since(killedAt) > giveUpAfterKill {
					break
				}
			}
			time.Sleep(d)
		}
		t.Stop()
	}
	r.gone.Store(true)
	drained := make(chan struct{})
	t := s.opts.Clock.AfterFunc(drainWait, func() { close(drained) })
	select {
	case <-outDone:
	case <-drained:
		// Closing the read end ends the copy; a writer left outside the
		// group gets EPIPE.
		pr.Close()
		<-outDone
	}
	t.Stop()
	s.post(func() { s.onExit(p, st) })
}
