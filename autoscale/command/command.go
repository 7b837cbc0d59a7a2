// Package command scales anything a shell command can: it implements
// [autoscale.Target] by running a command with the desired count in
// BOILER_DESIRED, for platforms boiler has no target for (Render, Fly,
// a VPS's systemd units, a Kubernetes deployment through kubectl).
package command

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
)

// DefaultTimeout bounds one run of a command when Options.Timeout is 0.
const DefaultTimeout = time.Minute

// Options configure a [Target].
type Options struct {
	// Command sets the count. It is run by Shell -c with BOILER_DESIRED
	// (the count wanted) and BOILER_CURRENT (the count before) added to
	// the environment; exit status 0 means done. Required. Example:
	// `fly scale count worker=$BOILER_DESIRED --yes`.
	Command string
	// CountCommand, when set, reads the count: run the same way, it
	// prints a whole number. Default none: the count is the last one Set
	// (Initial before the first).
	CountCommand string
	// Initial is the count before the first Set when there is no
	// CountCommand. Default 0.
	Initial int
	// Env is added to the process's environment for both commands
	// ("KEY=value"). Default none.
	Env []string
	// Dir is the commands' working directory. Default: the process's.
	Dir string
	// Shell runs the commands. Default "/bin/sh".
	Shell string
	// Timeout bounds one run; the command is killed after it. Default
	// 1 min.
	Timeout time.Duration
}

// Target runs commands to read and set a count. It is safe for concurrent
// use; it runs one command at a time.
type Target struct {
	opts Options

	mu   sync.Mutex
	last int // the count after the last successful Set, or Initial
}

// New returns a target for opts.
func New(opts Options) (*Target, error) {
	opts.Shell = cmp.Or(opts.Shell, "/bin/sh")
	opts.Timeout = cmp.Or(opts.Timeout, DefaultTimeout)
	switch {
	case strings.TrimSpace(opts.Command) == "":
		return nil, errors.New("command target: Command is empty, want a shell command using $BOILER_DESIRED")
	case opts.Initial < 0:
		return nil, fmt.Errorf("command target: Initial is %d, want 0 or more", opts.Initial)
	case opts.Timeout < 0:
		return nil, fmt.Errorf("command target: Timeout is %s, want more than 0", opts.Timeout)
	}
	for i, kv := range opts.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("command target: Env entry %d %q is not KEY=value", i+1, kv)
		}
	}
	return &Target{opts: opts, last: opts.Initial}, nil
}

// Current implements [autoscale.Target].
func (t *Target) Current(ctx context.Context) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.opts.CountCommand == "" {
		return t.last, nil
	}
	out, err := t.run(ctx, t.opts.CountCommand, nil)
	if err != nil {
		return 0, fmt.Errorf("reading the count: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("reading the count: %q printed %q, want a whole number", t.opts.CountCommand, clip(out))
	}
	return n, nil
}

// Set implements [autoscale.Target].
func (t *Target) Set(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("command target: count %d is negative", n)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	env := []string{"BOILER_DESIRED=" + strconv.Itoa(n), "BOILER_CURRENT=" + strconv.Itoa(t.last)}
	if _, err := t.run(ctx, t.opts.Command, env); err != nil {
		return fmt.Errorf("setting the count to %d: %w", n, err)
	}
	t.last = n
	return nil
}

// run runs script with the shell and returns its standard output; an
// error carries the exit status and the end of the output.
func (t *Target) run(ctx context.Context, script string, env []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, t.opts.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.opts.Shell, "-c", script)
	cmd.Dir = t.opts.Dir
	cmd.Env = append(append(os.Environ(), t.opts.Env...), env...)
	cmd.WaitDelay = time.Second // a child holding the pipes open does not hang us
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timeout %s)", err, t.opts.Timeout)
		}
		out := clip(append(stdout.Bytes(), stderr.Bytes()...))
		if out != "" {
			return nil, fmt.Errorf("command %q: %w: %s", script, err, out)
		}
		return nil, fmt.Errorf("command %q: %w", script, err)
	}
	return stdout.Bytes(), nil
}

// clip returns the last 500 bytes of out, trimmed.
func clip(out []byte) string {
	s := strings.TrimSpace(string(out))
	if len(s) > 500 {
		s = "..." + s[len(s)-500:]
	}
	return s
}

var _ autoscale.Target = (*Target)(nil)
