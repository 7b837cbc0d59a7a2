// Package lint checks a Procfile for what bites people on platforms: syntax
// errors, an unknown process type in the formation, a web process that does
// not listen on $PORT, and web server timeouts at or above the router's
// (gunicorn, uwsgi, puma), so that a request the router already gave up on
// keeps a worker busy and the overload cascades.
//
// Each finding says which line, what value, and what to set. Check is pure:
// files (puma's config, a nested Procfile) are read through Options.ReadFile.
package lint

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/procfile"
)

// Severity ranks a finding.
type Severity int

const (
	// Error is a mistake that breaks the app on a platform: `boiler check`
	// exits non-zero.
	Error Severity = iota
	// Warning is likely a mistake, or one Check cannot confirm.
	Warning
)

func (s Severity) String() string {
	if s == Error {
		return "error"
	}
	return "warning"
}

// Finding is one problem found.
type Finding struct {
	File     string // the file the line is in ("Procfile", "config/puma.rb")
	Line     int    // 1-based; 0 when the finding is not about one line
	Process  string // the process type, when there is one
	Severity Severity
	Message  string // what is wrong, the value, and what to set
}

func (f Finding) String() string {
	loc := f.File
	if f.Line > 0 {
		loc += ":" + strconv.Itoa(f.Line)
	}
	proc := ""
	if f.Process != "" {
		proc = f.Process + ": "
	}
	return fmt.Sprintf("%s: %s: %s%s", loc, f.Severity, proc, f.Message)
}

// Options configure Check. The zero value of each field is its default.
type Options struct {
	// File names the Procfile in findings, and relative paths (puma's
	// config, a nested Procfile) are read from its directory. "": "Procfile".
	File string
	// Formation is the -m value to check against the Procfile. "": none.
	Formation string
	// RouterTimeout is the platform router's request timeout. 0: 30s
	// (Heroku's).
	RouterTimeout time.Duration
	// Env looks up the environment the processes get (for
	// GUNICORN_CMD_ARGS). nil: an empty environment.
	Env procfile.Lookup
	// ReadFile reads a file named relative to the working directory. nil:
	// no file is read (puma's config and nested Procfiles are not checked).
	ReadFile func(name string) ([]byte, error)
}

// maxDepth bounds how deep nested `boiler start` Procfiles are followed.
const maxDepth = 3

// Check checks the Procfile src and returns its findings in line order.
func Check(src []byte, opts Options) []Finding {
	opts.File = cmp.Or(opts.File, "Procfile")
	opts.RouterTimeout = cmp.Or(opts.RouterTimeout, 30*time.Second)
	if opts.Env == nil {
		opts.Env = func(string) (string, bool) { return "", false }
	}
	c := &checker{opts: opts, seen: map[string]bool{path.Clean(opts.File): true}}
	c.check(src, opts.File, opts.Formation, 0)
	return c.findings
}

type checker struct {
	opts     Options
	findings []Finding
	seen     map[string]bool // Procfiles checked, against loops
}

func (c *checker) add(f Finding) { c.findings = append(c.findings, f) }

func (c *checker) check(src []byte, file, formation string, depth int) {
	entries, err := procfile.Parse(bytes.NewReader(src))
	if err != nil {
		f := Finding{File: file, Severity: Error, Message: err.Error()}
		var se *procfile.SyntaxError
		if errors.As(err, &se) {
			f.Line, f.Message = se.Line, se.Msg
		}
		c.add(f)
		return
	}
	if len(entries) == 0 {
		c.add(Finding{File: file, Severity: Error, Message: "no process types: write one \"name: command\" per line, e.g. \"web: bin/server --port $PORT\""})
		return
	}
	if formation != "" {
		f, err := procfile.ParseFormation(formation)
		if err == nil {
			_, err = f.Counts(entries)
		}
		if err != nil {
			c.add(Finding{File: file, Severity: Error, Message: "-m " + formation + ": " + err.Error()})
		}
	}
	for _, e := range entries {
		c.checkEntry(e, file, depth)
	}
}

func (c *checker) checkEntry(e procfile.Entry, file string, depth int) {
	words := fields(e.Command)
	at := func(sev Severity, format string, args ...any) {
		c.add(Finding{File: file, Line: e.Line, Process: e.Name, Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	if nested, ok := boilerStart(words); ok {
		if e.Name == "web" {
			c.checkNested(nested, file, depth, at)
		}
		return
	}
	srv, args := findServer(words)
	if e.Name == "web" {
		c.checkPort(e.Command, srv, args, at)
	}
	router := c.opts.RouterTimeout
	suggest := max(router-5*time.Second, time.Second)
	switch srv {
	case "gunicorn":
		c.checkGunicorn(args, router, suggest, at)
	case "uwsgi":
		c.checkUwsgi(args, router, suggest, at)
	case "puma":
		c.checkPuma(args, file, e.Name, router, suggest)
	}
}

// checkNested checks the Procfile of a nested `boiler start`.
func (c *checker) checkNested(args []string, file string, depth int, at func(Severity, string, ...any)) {
	name, _ := flagValue(args, "-f", "--procfile")
	name = cmp.Or(name, "Procfile")
	p := path.Join(path.Dir(file), name)
	if c.opts.ReadFile == nil || depth+1 > maxDepth || c.seen[path.Clean(p)] {
		return
	}
	c.seen[path.Clean(p)] = true
	src, err := c.opts.ReadFile(p)
	if err != nil {
		at(Error, "the nested boiler start runs %s, which cannot be read: %v", p, err)
		return
	}
	c.check(src, p, "", depth+1)
}

// portHints say how each server is told to listen on $PORT; readsPort
// lists those that read $PORT by themselves unless given a port.
var (
	portHints = map[string]string{
		"gunicorn":      "--bind 0.0.0.0:$PORT",
		"puma":          "-p $PORT",
		"rails":         "-p $PORT -b 0.0.0.0",
		"uvicorn":       "--host 0.0.0.0 --port $PORT",
		"hypercorn":     "--bind 0.0.0.0:$PORT",
		"daphne":        "-b 0.0.0.0 -p $PORT",
		"runserver":     "0.0.0.0:$PORT",
		"flask":         "--host 0.0.0.0 --port $PORT",
		"waitress":      "--port=$PORT",
		"uwsgi":         "--http :$PORT",
		"http.server":   "$PORT",
		"php":           "-S 0.0.0.0:$PORT",
		"rackup":        "-p $PORT -o 0.0.0.0",
		"thin":          "-p $PORT",
		"unicorn":       "-p $PORT",
		"node":          "(read process.env.PORT in the app)",
		"npm":           "(read process.env.PORT in the app)",
		"webpack-serve": "--port $PORT",
	}
	portFlags = map[string][]string{
		"gunicorn": {"-b", "--bind"},
		"puma":     {"-p", "--port", "-b", "--bind"},
		"rails":    {"-p", "--port"},
	}
)

func (c *checker) checkPort(cmd, srv string, args []string, at func(Severity, string, ...any)) {
	if strings.Contains(cmd, "$PORT") || strings.Contains(cmd, "${PORT") {
		return
	}
	hint := portHints[srv]
	if flags, reads := portFlags[srv]; reads {
		v, ok := flagValue(args, flags...)
		if !ok {
			return // the server reads $PORT itself
		}
		at(Error, "%s listens on %q, not on $PORT, so the router cannot reach it (boot timeout): set %s", srv, v, hint)
		return
	}
	if hint == "" || srv == "node" || srv == "npm" {
		at(Warning, "%q does not mention $PORT: unless it reads $PORT itself, the router cannot reach it (boot timeout); listen on $PORT or run `boiler start` here", clipCmd(cmd))
		return
	}
	at(Error, "%s does not read $PORT, so the router cannot reach it (boot timeout): add %s", srv, hint)
}

func (c *checker) checkGunicorn(args []string, router, suggest time.Duration, at func(Severity, string, ...any)) {
	if extra, ok := c.opts.Env("GUNICORN_CMD_ARGS"); ok {
		// The command line wins over GUNICORN_CMD_ARGS: look at it last.
		args = append(fields(extra), args...)
	}
	class, _ := flagValue(args, "-k", "--worker-class")
	timeout, hasTimeout := flagValue(args, "-t", "--timeout")
	_, hasConfig := flagValue(args, "-c", "--config")
	if strings.Contains(class, "gevent") || strings.Contains(class, "eventlet") {
		what := "default --timeout (30s)"
		if hasTimeout {
			what = "--timeout " + timeout
		}
		at(Warning, "with -k %s, gunicorn's %s only checks that a worker is alive: it bounds no request. Bound requests in the app below the router's %s (e.g. a gevent.Timeout around each request)", class, what, router)
		return
	}
	if !hasTimeout {
		sev := Error
		note := ""
		if hasConfig {
			sev, note = Warning, " (unless your config file sets timeout)"
		}
		at(sev, "gunicorn's default --timeout is 30s%s, not below the router's %s: a request the router gave up on keeps a worker busy and the overload cascades. Set --timeout %d", note, router, secs(suggest))
		return
	}
	d, err := seconds(timeout)
	if err != nil {
		at(Error, "gunicorn --timeout %q is not a number of seconds: set --timeout %d", timeout, secs(suggest))
		return
	}
	if d == 0 || d >= router {
		what := "is at or above"
		if d == 0 {
			what = "disables the worker timeout, so no request is bounded: not below"
		}
		at(Error, "gunicorn --timeout %s %s the router's %s: a request the router gave up on keeps a worker busy for up to %s and the overload cascades. Set --timeout %d", timeout, what, router, cmp.Or(d, router).String(), secs(suggest))
	}
}

func (c *checker) checkUwsgi(args []string, router, suggest time.Duration, at func(Severity, string, ...any)) {
	v, ok := flagValue(args, "--harakiri", "-harakiri")
	if !ok {
		if _, cfg := flagValue(args, "--ini", "--yaml", "--json", "--xml"); cfg || hasSuffixArg(args, ".ini") {
			return // harakiri may be in the config file
		}
		at(Warning, "uwsgi without --harakiri never times out a request, so one the router gave up on after %s keeps a worker busy: set --harakiri %d", router, secs(suggest))
		return
	}
	d, err := seconds(v)
	if err != nil {
		at(Error, "uwsgi --harakiri %q is not a number of seconds: set --harakiri %d", v, secs(suggest))
		return
	}
	if d >= router {
		at(Error, "uwsgi --harakiri %s is at or above the router's %s: a request the router gave up on keeps a worker busy for up to %s. Set --harakiri %d", v, router, d, secs(suggest))
	}
}

// checkPuma reads puma's config file for worker_timeout.
func (c *checker) checkPuma(args []string, procfilePath, process string, router, suggest time.Duration) {
	if c.opts.ReadFile == nil {
		return
	}
	cfg, given := flagValue(args, "-C", "--config")
	cfg = path.Join(path.Dir(procfilePath), cmp.Or(cfg, "config/puma.rb"))
	src, err := c.opts.ReadFile(cfg)
	if err != nil {
		if given {
			c.add(Finding{File: cfg, Process: process, Severity: Warning, Message: fmt.Sprintf("cannot read puma's config: %v", err)})
		}
		return
	}
	for i, line := range strings.Split(string(src), "\n") {
		f := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(line))
		if len(f) < 2 || f[0] != "worker_timeout" {
			continue
		}
		d, err := seconds(f[1])
		if err != nil || d < router {
			continue
		}
		c.add(Finding{File: cfg, Line: i + 1, Process: process, Severity: Error, Message: fmt.Sprintf(
			"puma worker_timeout %s is at or above the router's %s: a worker stuck on a request the router gave up on is not replaced for %s. Set worker_timeout %d (and bound requests with Rack::Timeout)",
			f[1], router, d, secs(suggest))})
	}
}

// fields splits a command line like a shell would for our purposes: on
// blanks outside quotes, with quotes removed; ";", "&&", "||", "|" and "&"
// stand alone.
func fields(s string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote byte
	flush := func() {
		if inWord {
			out = append(out, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quote != 0:
			if ch == quote {
				quote = 0
			} else {
				cur.WriteByte(ch)
			}
		case ch == '\'' || ch == '"':
			quote, inWord = ch, true
		case ch == ' ' || ch == '\t':
			flush()
		case ch == ';' || ch == '|' || ch == '&':
			flush()
			op := string(ch)
			if i+1 < len(s) && (s[i+1] == '|' || s[i+1] == '&') && s[i+1] == ch {
				op += string(ch)
				i++
			}
			out = append(out, op)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return out
}

func isSeparator(w string) bool {
	return w == ";" || w == "&&" || w == "||" || w == "|" || w == "&"
}

// findServer finds a known server in the command's words and returns its
// name and its arguments (up to the next separator).
func findServer(words []string) (string, []string) {
	for i, w := range words {
		base := path.Base(w)
		var next string
		if i+1 < len(words) {
			next = words[i+1]
		}
		name := ""
		switch {
		case base == "gunicorn" || base == "uwsgi" || base == "puma" || base == "uvicorn" || base == "hypercorn" ||
			base == "daphne" || base == "rackup" || base == "thin" || base == "unicorn" || base == "node" || base == "npm":
			name = base
		case base == "waitress-serve":
			name = "waitress"
		case base == "rails" && (next == "s" || next == "server"):
			name = "rails"
		case base == "manage.py" && next == "runserver":
			name = "runserver"
		case base == "flask" && next == "run":
			name = "flask"
		case base == "http.server":
			name = "http.server"
		case base == "php" && next == "-S":
			name = "php"
		}
		if name == "" {
			continue
		}
		args := words[i+1:]
		for j, a := range args {
			if isSeparator(a) {
				args = args[:j]
				break
			}
		}
		return name, args
	}
	return "", nil
}

// boilerStart reports whether the command runs `boiler start`, and its
// arguments.
func boilerStart(words []string) ([]string, bool) {
	for i := 0; i+1 < len(words); i++ {
		if path.Base(words[i]) == "boiler" && words[i+1] == "start" {
			args := words[i+2:]
			for j, a := range args {
				if isSeparator(a) {
					args = args[:j]
					break
				}
			}
			return args, true
		}
	}
	return nil, false
}

// flagValue finds the last of names in args, in the forms "-t 30", "-t30"
// (one-letter flags) and "--timeout=30".
func flagValue(args []string, names ...string) (string, bool) {
	val, found := "", false
	for i, a := range args {
		for _, n := range names {
			switch {
			case a == n:
				found = true
				val = ""
				if i+1 < len(args) {
					val = args[i+1]
				}
			case strings.HasPrefix(a, n+"="):
				found, val = true, a[len(n)+1:]
			case len(n) == 2 && n[0] == '-' && n[1] != '-' && len(a) > 2 && strings.HasPrefix(a, n) && a[1] == n[1] && a[2] != '-':
				found, val = true, a[2:]
			}
		}
	}
	return val, found
}

func hasSuffixArg(args []string, suffix string) bool {
	for _, a := range args {
		if strings.HasSuffix(a, suffix) {
			return true
		}
	}
	return false
}

// seconds parses "30", "30.5" or "30s".
func seconds(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func secs(d time.Duration) int { return int(d / time.Second) }

func clipCmd(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
