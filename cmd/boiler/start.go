package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/doubleboiler/boiler/procfile"
	"github.com/doubleboiler/boiler/supervisor"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// procfileFlags are the -f and -e flags of start, run and check.
type procfileFlags struct {
	procfile string
	env      string
	envSet   bool // -e given: its files must exist
}

func addProcfileFlags(cmd *cobra.Command, f *procfileFlags) {
	cmd.Flags().StringVarP(&f.procfile, "procfile", "f", "Procfile", "the Procfile")
	cmd.Flags().StringVarP(&f.env, "env", "e", ".env", "comma-separated .env files (a missing default .env is fine); the environment wins over them")
}

// readProcfile reads and parses the Procfile; errors name the file and line.
func (f *procfileFlags) readProcfile() ([]procfile.Entry, error) {
	src, err := os.ReadFile(f.procfile)
	if err != nil {
		return nil, fmt.Errorf("reading the Procfile: %w", err)
	}
	entries, err := procfile.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.procfile, err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no process types (write one \"name: command\" per line)", f.procfile)
	}
	return entries, nil
}

// environ is the environment with the .env files' variables added (the
// environment wins, later files over earlier ones). Each file sees the
// variables of the files before it in ${VAR} references.
func (f *procfileFlags) environ() ([]string, error) {
	base := os.Environ()
	loaded := make(map[string]string)
	lookup := func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := loaded[k]
		return v, ok
	}
	var files [][]procfile.Var
	for _, name := range strings.Split(f.env, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		src, err := os.ReadFile(name)
		if errors.Is(err, os.ErrNotExist) && !f.envSet && name == ".env" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading env file: %w", err)
		}
		vars, err := procfile.ParseEnv(bytes.NewReader(src), lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, v := range vars {
			loaded[v.Key] = v.Value
		}
		files = append(files, vars)
	}
	return procfile.Environ(base, files...), nil
}

// lookupIn finds key in an environ list (the last entry wins, as in
// os/exec).
func lookupIn(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// startFormation is the number of instances of each process type: the -m
// formation, limited to the named processes when some are given.
func startFormation(entries []procfile.Entry, m string, names []string) (map[string]int, error) {
	f, err := procfile.ParseFormation(m)
	if err != nil {
		return nil, fmt.Errorf("-m: %w", err)
	}
	counts, err := f.Counts(entries)
	if err != nil {
		return nil, fmt.Errorf("-m: %w", err)
	}
	if len(names) == 0 {
		return counts, nil
	}
	only := make(map[string]int, len(counts))
	for name := range counts {
		only[name] = 0
	}
	for _, name := range names {
		n, ok := counts[name]
		if !ok {
			return nil, fmt.Errorf("unknown process type %q (the Procfile has: %s)", name, entryNames(entries))
		}
		only[name] = max(n, 1)
	}
	return only, nil
}

func entryNames(entries []procfile.Entry) string {
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	return strings.Join(names, ", ")
}

// defaultStopTimeout is the platform's 30 s less a margin.
const defaultStopTimeout = 25 * time.Second

// stopTimeout is -t ("25", seconds as foreman takes it, or "25s"); unset,
// a nested supervisor takes 4/5 of its parent's (BOILER_STOP_TIMEOUT), so
// its own stop ends before the parent's SIGKILL; else 25s.
func stopTimeout(flag string, environ []string) (time.Duration, error) {
	if flag != "" {
		d, err := parseSeconds(flag)
		if err != nil || d <= 0 {
			return 0, fmt.Errorf("-t %q: want a duration like 25 or 25s", flag)
		}
		return d, nil
	}
	if v, ok := lookupIn(environ, supervisor.EnvStopTimeout); ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d * 4 / 5, nil
		}
	}
	return defaultStopTimeout, nil
}

// parseSeconds parses "25" (seconds) or a Go duration "1m30s".
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func newStartCmd() *cobra.Command {
	var (
		pf                             procfileFlags
		formation, timeout, restart    string
		port                           int
		noColor, timestamps, subreaper bool
	)
	cmd := &cobra.Command{
		Use:   "start [PROCESS...]",
		Short: "Run the Procfile's processes, as foreman does and with the platform's signals",
		Long: `Run the processes of a Procfile: one of each by default (-m web=1,worker=2 or
all=1 to change it; name processes to run only those).

Each process gets PORT (base + 100 × its position in the Procfile + its instance
number - 1; a lone web gets the platform's $PORT as it is) and PS=web.1. Output
is prefixed "web.1 | ". SIGINT, SIGTERM or SIGHUP stop everything: SIGTERM to
each process group, SIGKILL after -t; a second Ctrl-C kills at once, a repeated
SIGTERM does not. A crashed process restarts with backoff (1s doubling to 60s).
The exit status is 0 after a requested stop, else that of the failed process.

boiler ps and boiler scale talk to it over a Unix socket: $BOILER_SOCKET, or
.boiler.sock in the working directory.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Signals first, so none is missed while starting. main's
			// context also ends on SIGINT/SIGTERM; the supervisor takes
			// that as the same stop request, and counts SIGINTs itself.
			sigs := make(chan os.Signal, 8)
			signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
			defer signal.Stop(sigs)
			// A closed stdout must not kill the supervisor (and orphan its
			// processes): handled, SIGPIPE makes writes fail instead.
			// Handled, not ignored: an ignored signal stays ignored in the
			// children.
			pipe := make(chan os.Signal, 1)
			signal.Notify(pipe, syscall.SIGPIPE)
			defer signal.Stop(pipe)

			pf.envSet = cmd.Flags().Changed("env")
			entries, err := pf.readProcfile()
			if err != nil {
				return err
			}
			environ, err := pf.environ()
			if err != nil {
				return err
			}
			counts, err := startFormation(entries, formation, args)
			if err != nil {
				return err
			}
			stop, err := stopTimeout(timeout, environ)
			if err != nil {
				return err
			}
			policy, err := supervisor.ParseRestartPolicy(restart)
			if err != nil {
				return fmt.Errorf("--restart: %w", err)
			}
			var platformPort int
			if v, ok := lookupIn(environ, "PORT"); ok && v != "" {
				if platformPort, err = strconv.Atoi(v); err != nil {
					return fmt.Errorf("$PORT %q is not a port number", v)
				}
			}
			out := cmd.OutOrStdout()
			color := !noColor && os.Getenv("NO_COLOR") == "" && out == os.Stdout && term.IsTerminal(int(os.Stdout.Fd()))
			sup, err := supervisor.New(supervisor.Options{
				Entries:       entries,
				Formation:     counts,
				Env:           environ,
				Dir:           filepath.Dir(pf.procfile),
				Port:          port,
				PlatformPort:  platformPort,
				Timeout:       stop,
				Restart:       policy,
				Output:        out,
				Color:         color,
				Timestamps:    timestamps,
				ControlSocket: controlSocketPath(),
				Subreaper:     subreaper,
			})
			if err != nil {
				return err
			}
			err = sup.Run(cmd.Context(), sigs)
			if ee := (*supervisor.ExitError)(nil); errors.As(err, &ee) {
				return &exitError{code: ee.Code}
			}
			return err
		},
	}
	addProcfileFlags(cmd, &pf)
	cmd.Flags().StringVarP(&formation, "formation", "m", "", `instances per process type: "web=1,worker=2" or "all=1,worker=3" (default all=1)`)
	cmd.Flags().IntVarP(&port, "port", "p", 5000, "base port")
	cmd.Flags().StringVarP(&timeout, "timeout", "t", "", "time between SIGTERM and SIGKILL when stopping, e.g. 25 or 25s (default 25s; nested: 4/5 of the parent's)")
	cmd.Flags().StringVar(&restart, "restart", string(supervisor.RestartOnFailure), "on-failure (restart crashed processes with backoff), always, or never (one exits, all stop)")
	cmd.Flags().BoolVar(&noColor, "no-color", false, "no colors (also: NO_COLOR set, or output not a terminal)")
	cmd.Flags().BoolVar(&timestamps, "timestamps", false, "start each line with the time")
	cmd.Flags().BoolVar(&subreaper, "subreaper", false, "become a child subreaper and reap every orphaned descendant (implied when running as PID 1)")
	return cmd
}
