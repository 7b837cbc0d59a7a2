package supervisor

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/doubleboiler/boiler/procfile"
)

// RestartPolicy says which exits of a process restart it.
type RestartPolicy string

const (
	// RestartOnFailure restarts a process that exits with a non-zero status
	// or is killed by a signal, with exponential backoff. A process that
	// exits with status 0 has finished its work and is not restarted.
	RestartOnFailure RestartPolicy = "on-failure"
	// RestartAlways restarts a process whatever its status, with backoff.
	RestartAlways RestartPolicy = "always"
	// RestartNever is foreman's rule: when one process exits, all stop, and
	// the supervisor exits with that process's status.
	RestartNever RestartPolicy = "never"
)

// ParseRestartPolicy parses "on-failure", "always" or "never".
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	switch p := RestartPolicy(s); p {
	case RestartOnFailure, RestartAlways, RestartNever:
		return p, nil
	}
	return "", fmt.Errorf("restart policy %q: want on-failure, always or never", s)
}

// Environment variables the supervisor gives its processes besides the
// environment it was started with.
const (
	// EnvPort is the port a process should listen on.
	EnvPort = "PORT"
	// EnvPS is the process's name, "web.1", as foreman and the platform set it.
	EnvPS = "PS"
	// EnvStopTimeout is the supervisor's stop timeout ("25s"). A nested
	// `boiler start` reads it to fit its own stop inside its parent's.
	EnvStopTimeout = "BOILER_STOP_TIMEOUT"
)

// Options configure a Supervisor. The zero value of each field is its
// default, written beside it.
type Options struct {
	// Entries are the process types, in Procfile order (the order sets the
	// port offsets). Required.
	Entries []procfile.Entry
	// Formation is the number of instances of each process type; a type not
	// in it runs none. nil: one of each.
	Formation map[string]int
	// Env is the environment of every process ("KEY=value"), to which the
	// supervisor adds PORT, PS and BOILER_STOP_TIMEOUT. nil: empty.
	Env []string
	// Dir is the working directory of the processes. "": the supervisor's.
	Dir string
	// Shell runs each command as Shell -c COMMAND. "": /bin/sh.
	Shell string

	// Port is the base port: a process type gets Port + 100 × its position
	// in the Procfile + its instance number - 1, as foreman does. 0: 5000.
	Port int
	// PlatformPort is the platform's $PORT. When set and web runs one
	// instance, web.1 gets exactly this port (so a nested supervisor's web
	// binds the port the platform routes to). 0: none.
	PlatformPort int

	// Timeout is how long processes have between SIGTERM and SIGKILL.
	// 0: 25s (inside the platform's 30 s).
	Timeout time.Duration
	// Restart is the restart policy. "": RestartOnFailure.
	Restart RestartPolicy
	// RestartDelay is the backoff after the first crash, doubled after each
	// further crash in a row. 0: 1s.
	RestartDelay time.Duration
	// RestartDelayMax caps the backoff. 0: 60s.
	RestartDelayMax time.Duration
	// RestartReset is the uptime after which a crash counts as the first
	// again. 0: 1 minute.
	RestartReset time.Duration
	// SettleDelay is how long an unexpected exit waits before it is judged:
	// the platform signals every process of the container at once, so a
	// child may exit on the platform's SIGTERM a moment before the
	// supervisor receives its own; such an exit is part of the stop, not a
	// crash. 0: 500ms.
	SettleDelay time.Duration

	// Output receives the prefixed log lines. nil: os.Stdout.
	Output io.Writer
	// Color colors each process's prefix (the caller decides: a terminal
	// and no NO_COLOR). Default: no color.
	Color bool
	// Timestamps starts each line with the time, "15:04:05 ". Default: off.
	Timestamps bool
	// FlushDelay is how long a partial line (no newline yet) waits before
	// it is written as a line of its own. 0: 200ms.
	FlushDelay time.Duration
	// MaxLineLength is the longest line written whole; a longer one is
	// written in pieces of this size, nothing lost. 0: 1 MiB.
	MaxLineLength int

	// ControlSocket is the path of the Unix socket that `boiler ps` and
	// `boiler scale` talk to; if it cannot be made, the supervisor runs
	// without it and says so. "": no socket.
	ControlSocket string
	// ReapAll makes the supervisor the one reaper of every child of its
	// process, orphans included, with a single wait4(-1) loop. It must not
	// be set when other code in the process uses os/exec (whose Wait would
	// race it). Default: set when the supervisor is PID 1.
	ReapAll bool
	// Subreaper (Linux) makes the supervisor a child subreaper, so orphaned
	// descendants are reparented to it and reaped; it implies ReapAll.
	// Default: off.
	Subreaper bool

	// Clock is the source of time. nil: the wall clock.
	Clock Clock
}

func (o Options) withDefaults() Options {
	o.Shell = cmp.Or(o.Shell, "/bin/sh")
	o.Port = cmp.Or(o.Port, 5000)
	o.Timeout = cmp.Or(o.Timeout, 25*time.Second)
	o.Restart = cmp.Or(o.Restart, RestartOnFailure)
	o.RestartDelay = cmp.Or(o.RestartDelay, time.Second)
	o.RestartDelayMax = cmp.Or(o.RestartDelayMax, 60*time.Second)
	o.RestartReset = cmp.Or(o.RestartReset, time.Minute)
	o.SettleDelay = cmp.Or(o.SettleDelay, 500*time.Millisecond)
	o.FlushDelay = cmp.Or(o.FlushDelay, 200*time.Millisecond)
	o.MaxLineLength = cmp.Or(o.MaxLineLength, 1<<20)
	if o.Output == nil {
		o.Output = os.Stdout
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Formation == nil {
		o.Formation = make(map[string]int, len(o.Entries))
		for _, e := range o.Entries {
			o.Formation[e.Name] = 1
		}
	}
	if o.Subreaper || os.Getpid() == 1 {
		o.ReapAll = true
	}
	return o
}

func (o Options) validate() error {
	if len(o.Entries) == 0 {
		return errors.New("supervisor options: Entries is empty (no process types)")
	}
	seen := make(map[string]bool)
	for _, e := range o.Entries {
		if !procfile.ValidName(e.Name) || e.Command == "" || seen[e.Name] {
			return fmt.Errorf("supervisor options: Entries: bad or duplicate entry %q", e.Name)
		}
		seen[e.Name] = true
	}
	for name, n := range o.Formation {
		if !seen[name] {
			return fmt.Errorf("supervisor options: Formation: unknown process type %q", name)
		}
		if n < 0 {
			return fmt.Errorf("supervisor options: Formation: %s=%d is negative", name, n)
		}
	}
	if o.Port < 1 || o.Port+100*len(o.Entries) > 65535 {
		return fmt.Errorf("supervisor options: Port %d leaves no room for %d process types below 65536", o.Port, len(o.Entries))
	}
	if o.PlatformPort < 0 || o.PlatformPort > 65535 {
		return fmt.Errorf("supervisor options: PlatformPort %d is not a port", o.PlatformPort)
	}
	if _, err := ParseRestartPolicy(string(o.Restart)); err != nil {
		return fmt.Errorf("supervisor options: Restart: %w", err)
	}
	for name, d := range map[string]time.Duration{
		"Timeout": o.Timeout, "RestartDelay": o.RestartDelay, "RestartDelayMax": o.RestartDelayMax,
		"RestartReset": o.RestartReset, "SettleDelay": o.SettleDelay, "FlushDelay": o.FlushDelay,
	} {
		if d < 0 {
			return fmt.Errorf("supervisor options: %s %s is negative", name, d)
		}
	}
	if o.MaxLineLength < 0 {
		return fmt.Errorf("supervisor options: MaxLineLength %d is negative", o.MaxLineLength)
	}
	return nil
}
