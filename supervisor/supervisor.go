// Package supervisor runs a formation of processes from a Procfile the way
// foreman does (ports, prefixed logs, -m counts) and the way a platform does
// (process groups, a two-phase stop inside the platform's 30 s, restarts
// with backoff, reaping as PID 1).
//
// A Supervisor is one run loop: every change of state (a process started
// or exited, a signal, a timer, a Scale request) is an event handled by the
// loop goroutine in Run, so the state needs no lock. Each process has
// goroutines of its own: one copies its output into the log, one waits for
// its process group to end and then posts the exit to the loop (and, unless
// the supervisor reaps all children, one waits for its pid).
//
// Shutdown order: on the first SIGINT, SIGTERM or SIGHUP (or ctx), restarts
// are cancelled and every process group gets SIGTERM; groups still alive
// after Options.Timeout get SIGKILL (at once on a second SIGINT). Run
// returns once every process has been reaped and its output written, then
// closes the control socket and the reaper.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/doubleboiler/boiler/procfile"
)

// ErrNotRunning is returned by the Supervisor's methods when Run is not
// running (not started yet, or returned).
var ErrNotRunning = errors.New("supervisor is not running")

// ErrStopping is returned by Scale once the supervisor is stopping.
var ErrStopping = errors.New("supervisor is stopping")

// ExitError is Run's error when a process's failure ended the run: its
// status is the supervisor's exit status.
type ExitError struct {
	Process string // "web.1"
	Code    int    // exit code, or 128 + signal
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited with status %d", e.Process, e.Code)
}

// systemName prefixes the supervisor's own lines.
const systemName = "boiler"

// Supervisor runs a formation of processes. Build it with New, run it with
// Run; Scale, Formation and Processes may be called from any goroutine
// while Run runs.
type Supervisor struct {
	opts    Options
	entries map[string]procfile.Entry
	order   map[string]int // position of each type in the Procfile
	env     []string       // Options.Env without the variables set per process
	mux     *logMux
	sys     *lineWriter // the supervisor's own lines
	events  chan func() // run by the loop
	quit    chan struct{}
	started atomic.Bool
	wg      sync.WaitGroup // per-process goroutines

	// Owned by the loop.
	reap     reaper
	desired  map[string]int
	slots    map[string]map[int]*proc
	stopping bool
	killer   Timer // SIGKILL after Timeout during a stop
	sigints  int
	failure  *ExitError // what ended the run, if a process did
	colorN   int
}

// New checks opts and builds a Supervisor.
func New(opts Options) (*Supervisor, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Supervisor{
		opts:    opts,
		entries: make(map[string]procfile.Entry),
		order:   make(map[string]int),
		events:  make(chan func()),
		quit:    make(chan struct{}),
		desired: make(map[string]int),
		slots:   make(map[string]map[int]*proc),
	}
	for i, e := range opts.Entries {
		s.entries[e.Name] = e
		s.order[e.Name] = i
		s.desired[e.Name] = opts.Formation[e.Name]
		s.slots[e.Name] = make(map[int]*proc)
	}
	for _, kv := range opts.Env {
		k, _, _ := strings.Cut(kv, "=")
		if k != EnvPort && k != EnvPS && k != EnvStopTimeout {
			s.env = append(s.env, kv)
		}
	}
	s.mux = newLogMux(opts.Output, opts.Color, opts.Timestamps, opts.Clock)
	s.sys = s.mux.writer(systemName, "1", opts.FlushDelay, opts.MaxLineLength)
	return s, nil
}

// logf writes one of the supervisor's own lines.
func (s *Supervisor) logf(format string, args ...any) {
	_, _ = s.sys.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
}

// Run starts the formation and supervises it until it stops: after a
// signal from signals (SIGINT, SIGTERM, SIGHUP) or ctx's end, or, with
// RestartNever, after the first exit; or once every process has exited
// with status 0 and none is left to run. It returns nil after a requested
// stop, an *ExitError when a process's failure ended the run, or an error
// if the supervisor could not start. Run may be called once.
func (s *Supervisor) Run(ctx context.Context, signals <-chan os.Signal) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("supervisor: Run called twice")
	}
	if s.opts.Subreaper {
		if err := setSubreaper(); err != nil {
			close(s.quit)
			return err
		}
	}
	var ctl *controlServer
	if s.opts.ControlSocket != "" {
		var err error
		var tookOver bool
		// Without the socket the processes still run: only ps and scale
		// cannot reach them (a read-only working directory, say).
		switch ctl, tookOver, err = listenControl(s.opts.ControlSocket); {
		case err != nil:
			s.logf("%v: boiler ps and boiler scale cannot reach this supervisor", err)
		case tookOver:
			s.logf("control socket %s was held by another running boiler start (nested?); it is now this one's", s.opts.ControlSocket)
		}
		if ctl != nil {
			ctl.serve(s)
		}
	}
	s.reap = newReaper(s.opts.ReapAll)

	for name, n := range s.desired {
		s.mux.widen(len(name) + 1 + len(strconv.Itoa(n)))
	}
	s.logf("starting %s (stop timeout %s, restart %s)", s.formationString(), s.opts.Timeout, s.opts.Restart)
	s.reconcile()
	ctxDone := ctx.Done()
	for !s.finished() {
		select {
		case sig := <-signals:
			s.onSignal(sig)
		case <-ctxDone:
			ctxDone = nil
			s.beginStop("stop requested")
		case f := <-s.events:
			f()
		}
	}
	if s.killer != nil {
		s.killer.Stop()
	}
	close(s.quit)
	s.wg.Wait()
	if ctl != nil {
		ctl.close()
	}
	s.reap.close()
	if s.failure != nil {
		s.logf("exiting with status %d (%s failed)", s.failure.Code, s.failure.Process)
		s.sys.Flush()
		return s.failure
	}
	s.logf("all processes stopped")
	s.sys.Flush()
	return nil
}

// post hands f to the loop, or drops it once Run has returned.
func (s *Supervisor) post(f func()) {
	select {
	case s.events <- f:
	case <-s.quit:
	}
}

// call runs f in the loop and waits for it.
func (s *Supervisor) call(f func()) error {
	if !s.started.Load() {
		return ErrNotRunning
	}
	done := make(chan struct{})
	select {
	case s.events <- func() { f(); close(done) }:
		<-done
		return nil
	case <-s.quit:
		return ErrNotRunning
	}
}

// finished reports whether the loop is done: stopping and nothing left
// alive, or every process has exited on its own with nothing to restart.
func (s *Supervisor) finished() bool {
	total, exited := 0, 0
	for _, slots := range s.slots {
		for _, p := range slots {
			total++
			if p.state == stateExited {
				exited++
			}
		}
	}
	if s.stopping {
		return total == exited
	}
	return total > 0 && total == exited
}

func (s *Supervisor) onSignal(sig os.Signal) {
	name := signalName(sig)
	if sig == os.Interrupt {
		s.sigints++
		if s.sigints >= 2 && s.stopping {
			s.logf("second SIGINT: killing every process now")
			s.killAll()
			return
		}
	}
	if s.stopping {
		s.logf("%s received again: still stopping (SIGKILL after %s; a second Ctrl-C kills now)", name, s.opts.Timeout)
		return
	}
	s.beginStop(name)
}

// beginStop starts the two-phase stop: SIGTERM to every group now, SIGKILL
// to those alive after the timeout.
func (s *Supervisor) beginStop(reason string) {
	if s.stopping {
		return
	}
	s.stopping = true
	s.logf("%s: sending SIGTERM to all processes (SIGKILL after %s)", reason, s.opts.Timeout)
	for _, p := range s.allProcs() {
		switch p.state {
		case stateRunning:
			p.stopRequested = true
			p.run.signal(syscall.SIGTERM)
		case stateSettling, stateBackoff:
			// Exited before or during the stop: part of the stop, not a
			// crash, and not restarted.
			p.timer.Stop()
			s.logf("%s exited during the stop (%s)", p.name, p.last)
			p.state = stateExited
		}
	}
	s.killer = s.opts.Clock.AfterFunc(s.opts.Timeout, func() {
		s.post(func() {
			if s.running() > 0 {
				s.logf("processes still running after %s: sending SIGKILL", s.opts.Timeout)
			}
			s.killAll()
		})
	})
}

// running counts the processes whose group may still be alive.
func (s *Supervisor) running() int {
	n := 0
	for _, p := range s.allProcs() {
		if p.state == stateRunning {
			n++
		}
	}
	return n
}

func (s *Supervisor) killAll() {
	for _, p := range s.allProcs() {
		if p.state == stateRunning {
			if p.run.signal(syscall.SIGKILL) {
				s.logf("%s: SIGKILL to process group %d", p.name, p.run.pgid)
			}
		}
	}
}

// allProcs returns every process slot in Procfile order then instance order.
func (s *Supervisor) allProcs() []*proc {
	var out []*proc
	for _, e := range s.opts.Entries {
		slots := s.slots[e.Name]
		for _, n := range slices.Sorted(maps.Keys(slots)) {
			out = append(out, slots[n])
		}
	}
	return out
}

// reconcile starts the instances the formation wants and retires those it
// no longer wants (the highest-numbered ones).
func (s *Supervisor) reconcile() {
	if s.stopping {
		return
	}
	for _, e := range s.opts.Entries {
		want := s.desired[e.Name]
		slots := s.slots[e.Name]
		nums := slices.Sorted(maps.Keys(slots))
		slices.Reverse(nums) // highest-numbered first
		for _, num := range nums {
			if p := slots[num]; num > want && !p.retiring {
				s.retire(p)
			}
		}
		for num := 1; num <= want; num++ {
			if slots[num] == nil {
				p := s.newProc(e, num)
				slots[num] = p
				s.startProc(p)
			}
		}
	}
}

// retire stops p for good (scaled down): SIGTERM now, SIGKILL after the
// timeout; its slot is freed once it has exited.
func (s *Supervisor) retire(p *proc) {
	p.retiring = true
	p.stopRequested = true
	switch p.state {
	case stateRunning:
		s.logf("%s: stopping (scaled down)", p.name)
		r := p.run
		r.signal(syscall.SIGTERM)
		r.killer = s.opts.Clock.AfterFunc(s.opts.Timeout, func() {
			s.post(func() {
				if p.run == r && r.signal(syscall.SIGKILL) {
					s.logf("%s: still running after %s: SIGKILL to process group %d", p.name, s.opts.Timeout, r.pgid)
				}
			})
		})
	default:
		if p.timer != nil {
			p.timer.Stop()
		}
		delete(s.slots[p.typ], p.num)
	}
}

// onExit handles a process whose group is gone and whose output is written.
func (s *Supervisor) onExit(p *proc, st exitStatus) {
	r := p.run
	if r.killer != nil {
		r.killer.Stop()
	}
	p.last = st
	uptime := s.opts.Clock.Now().Sub(p.started).Round(time.Millisecond)
	switch {
	case p.retiring:
		s.logf("%s stopped (%s)", p.name, st)
		delete(s.slots[p.typ], p.num)
		s.reconcile()
		return
	case s.stopping || p.stopRequested:
		s.logf("%s stopped (%s)", p.name, st)
		p.state = stateExited
		return
	}
	// An exit nobody asked for: judge it after the settle delay, in case
	// it was the platform's SIGTERM arriving here before ours.
	p.state = stateSettling
	p.timer = s.opts.Clock.AfterFunc(s.opts.SettleDelay, func() {
		s.post(func() { s.judge(p, st, uptime) })
	})
}

// judge decides what an unrequested exit means under the restart policy.
func (s *Supervisor) judge(p *proc, st exitStatus, uptime time.Duration) {
	if p.state != stateSettling || s.stopping {
		return
	}
	switch {
	case s.opts.Restart == RestartNever:
		s.logf("%s exited (%s) after %s: stopping all processes (--restart never)", p.name, st, uptime)
		p.state = stateExited
		if !st.success() {
			s.failure = &ExitError{Process: p.name, Code: st.code()}
		}
		s.beginStop(p.name + " exited")
	case s.opts.Restart == RestartOnFailure && st.success():
		s.logf("%s exited with status 0 after %s: done, not restarted (--restart on-failure)", p.name, uptime)
		p.state = stateExited
	default:
		if uptime >= s.opts.RestartReset {
			p.crashes = 0
		}
		p.crashes++
		delay := backoff(p.crashes, s.opts.RestartDelay, s.opts.RestartDelayMax)
		what := "crashed"
		if st.success() {
			what = "exited"
		}
		s.logf("%s %s (%s) after %s: restarting in %s (crash %d in a row)", p.name, what, st, uptime, delay, p.crashes)
		p.state = stateBackoff
		p.timer = s.opts.Clock.AfterFunc(delay, func() {
			s.post(func() {
				if p.state == stateBackoff && !s.stopping && s.slots[p.typ][p.num] == p {
					p.restarts++
					s.startProc(p)
				}
			})
		})
	}
}

// formationString is "web=1, worker=2".
func (s *Supervisor) formationString() string {
	var parts []string
	for _, e := range s.opts.Entries {
		parts = append(parts, fmt.Sprintf("%s=%d", e.Name, s.desired[e.Name]))
	}
	return strings.Join(parts, ", ")
}

// Formation returns how many instances of each process type the
// supervisor is running (or starting).
func (s *Supervisor) Formation() (map[string]int, error) {
	var f map[string]int
	err := s.call(func() {
		f = make(map[string]int, len(s.desired))
		for k, v := range s.desired {
			f[k] = v
		}
	})
	return f, err
}

// Scale sets the number of instances of processType to n: new instances
// start at once; when scaling down, the highest-numbered instances get
// SIGTERM, then SIGKILL after the stop timeout.
func (s *Supervisor) Scale(processType string, n int) error {
	if _, ok := s.entries[processType]; !ok {
		return fmt.Errorf("scaling: unknown process type %q", processType)
	}
	if n < 0 {
		return fmt.Errorf("scaling %s: count %d is negative", processType, n)
	}
	var err error
	if cerr := s.call(func() {
		if s.stopping {
			err = ErrStopping
			return
		}
		if old := s.desired[processType]; old != n {
			s.logf("scaling %s from %d to %d", processType, old, n)
			s.desired[processType] = n
			s.reconcile()
		}
	}); cerr != nil {
		return cerr
	}
	return err
}

// Process describes one process of the formation.
type Process struct {
	Name     string    `json:"name"`     // "worker.2"
	Type     string    `json:"type"`     // "worker"
	Instance int       `json:"instance"` // 2
	State    string    `json:"state"`    // running, stopping, crashed, exited
	PID      int       `json:"pid"`      // 0 when not running
	Port     int       `json:"port"`
	Started  time.Time `json:"started"`  // of the current (or last) run
	Restarts int       `json:"restarts"` // since the supervisor started
	RSS      int64     `json:"rss"`      // bytes, summed over the process group (Linux)
	Command  string    `json:"command"`
}

// Processes lists the processes of the formation with their memory.
func (s *Supervisor) Processes() ([]Process, error) {
	var out []Process
	pgids := make(map[int]bool)
	err := s.call(func() {
		for _, p := range s.allProcs() {
			info := Process{
				Name: p.name, Type: p.typ, Instance: p.num, Port: p.port,
				Started: p.started, Restarts: p.restarts, Command: p.command,
			}
			switch p.state {
			case stateRunning:
				info.State = "running"
				if p.stopRequested {
					info.State = "stopping"
				}
				info.PID = p.run.pid
				pgids[p.run.pgid] = true
			case stateSettling, stateBackoff:
				info.State = "crashed"
			case stateExited:
				info.State = "exited"
			}
			out = append(out, info)
		}
	})
	if err != nil {
		return nil, err
	}
	rss := groupRSS(pgids)
	for i := range out {
		out[i].RSS = rss[out[i].PID]
	}
	return out, nil
}

// signalName is "SIGTERM" for syscall.SIGTERM and os.Interrupt.
func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		switch s {
		case syscall.SIGINT:
			return "SIGINT"
		case syscall.SIGTERM:
			return "SIGTERM"
		case syscall.SIGHUP:
			return "SIGHUP"
		case syscall.SIGKILL:
			return "SIGKILL"
		case syscall.SIGQUIT:
			return "SIGQUIT"
		}
		return fmt.Sprintf("signal %d", int(s))
	}
	return sig.String()
}
