package supervisor

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// exitStatus is how a process ended.
type exitStatus struct {
	ws  syscall.WaitStatus
	err error // the status could not be read (the process was reaped elsewhere)
}

// code is the exit status a shell would report: the exit code, or 128 + the
// signal that killed the process.
func (s exitStatus) code() int {
	switch {
	case s.err != nil:
		return 1
	case s.ws.Signaled():
		return 128 + int(s.ws.Signal())
	default:
		return s.ws.ExitStatus()
	}
}

func (s exitStatus) success() bool { return s.err == nil && s.ws.Exited() && s.ws.ExitStatus() == 0 }

func (s exitStatus) String() string {
	switch {
	case s.err != nil:
		return s.err.Error()
	case s.ws.Signaled():
		return fmt.Sprintf("killed by %s", signalName(s.ws.Signal()))
	default:
		return fmt.Sprintf("exit status %d", s.ws.ExitStatus())
	}
}

// reaper starts processes and hands each one's exit status to its starter.
//
// Exactly one reaper runs in a supervisor, so exactly one place reaps: a
// second reaper (or os/exec's Cmd.Wait) calling wait on the same children
// would steal exit statuses, the known trap of Go supervisors running as
// PID 1. That is why children are started with os.StartProcess and never
// through exec.Cmd.
type reaper interface {
	// start starts argv with attr; exited receives the process's status
	// once it has been reaped.
	start(argv []string, attr *os.ProcAttr) (pid int, exited <-chan exitStatus, err error)
	// close releases the reaper once every process it started has exited.
	close()
}

func newReaper(all bool) reaper {
	if all {
		return newAllReaper()
	}
	return childReaper{}
}

// childReaper waits for each child by its own pid (waitid on its pidfd),
// so it reaps nothing else: the right reaper when the supervisor is not
// PID 1 and other code in the process may run commands.
type childReaper struct{}

func (childReaper) start(argv []string, attr *os.ProcAttr) (int, <-chan exitStatus, error) {
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		return 0, nil, err
	}
	exited := make(chan exitStatus, 1)
	go func() {
		ps, err := p.Wait()
		if err != nil {
			exited <- exitStatus{err: fmt.Errorf("waiting for pid %d: %w", p.Pid, err)}
			return
		}
		exited <- exitStatus{ws: ps.Sys().(syscall.WaitStatus)}
	}()
	return p.Pid, exited, nil
}

func (childReaper) close() {}

// allReaper reaps every child of the process with one wait4(-1) loop woken
// by SIGCHLD, and dispatches each status to the starter of that pid.
// Orphans reparented to the supervisor (it is PID 1, or a subreaper) are
// reaped and dropped, so they never linger as zombies.
//
// start holds mu from fork until the pid is registered, and the loop takes
// mu before it looks a pid up, so a child that exits at once is never
// mistaken for an orphan.
type allReaper struct {
	sigchld chan os.Signal
	quit    chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	waiting map[int]chan exitStatus
}

func newAllReaper() *allReaper {
	r := &allReaper{
		sigchld: make(chan os.Signal, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		waiting: make(map[int]chan exitStatus),
	}
	signal.Notify(r.sigchld, syscall.SIGCHLD)
	go r.loop()
	return r
}

func (r *allReaper) start(argv []string, attr *os.ProcAttr) (int, <-chan exitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		return 0, nil, err
	}
	pid := p.Pid
	// The loop reaps it; the handle (a pidfd) is not needed. (Release
	// clears p.Pid, hence the copy.)
	_ = p.Release()
	exited := make(chan exitStatus, 1)
	r.waiting[pid] = exited
	return pid, exited, nil
}

func (r *allReaper) loop() {
	defer close(r.done)
	for {
		r.reap()
		select {
		case <-r.sigchld:
		case <-r.quit:
			r.reap()
			return
		}
	}
}

// reap collects every child that has exited. SIGCHLDs coalesce, so it
// loops until wait4 has nothing more.
func (r *allReaper) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		r.mu.Lock()
		ch, ok := r.waiting[pid]
		delete(r.waiting, pid)
		r.mu.Unlock()
		if ok {
			ch <- exitStatus{ws: ws}
		}
	}
}

func (r *allReaper) close() {
	signal.Stop(r.sigchld)
	close(r.quit)
	<-r.done
}
