package periodic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/schedule"
	"github.com/doubleboiler/boiler/store"
)

// LineSyntax is the form of a periodic job on the command line, for help
// texts and error messages.
const LineSyntax = "[name=NAME] [queue=QUEUE] [priority=N] [max_attempts=N] [timeout=DURATION] [catchup=once|skip|all] SCHEDULE KIND [JSON-ARGS]"

// Line is a periodic job written on one line, as `boiler work --periodic`
// and `boiler periodic add` take it:
//
//	[name=NAME] [queue=Q] [priority=N] [max_attempts=N] [timeout=D] [catchup=POLICY] SCHEDULE KIND [JSON-ARGS]
//
// for example `@every 10m sleep {"ms":5}` or
// `name=nightly catchup=skip CRON_TZ=Europe/Paris 0 3 * * * report {"full":true}`.
// The options come first; the schedule is a cron line of 5 fields (or 6
// with leading seconds, tried first), a descriptor (@daily, @every 10m),
// optionally after CRON_TZ=ZONE or TZ=ZONE; the kind is the first word
// after it, and everything after the kind is the JSON args (default {}).
type Line struct {
	Name        string          // empty: derived by the caller
	Spec        string          // the schedule, as written
	Kind        string          // the job kind
	Args        json.RawMessage // compact JSON, {} when none was given
	Queue       string          // empty: the default queue
	Priority    int             // 0 unless given
	MaxAttempts int             // 0: the default
	Timeout     time.Duration   // 0: the worker's
	CatchUp     store.CatchUp   // empty: the default (once)
}

// maxLineLen bounds a line: a schedule, a kind and args that fit on a
// command line.
const maxLineLen = 64 << 10

// ParseLine parses a periodic job line. Its errors say what is wrong
// (they do not repeat the line; callers name it).
func ParseLine(s string) (*Line, error) {
	if len(s) > maxLineLen {
		return nil, fmt.Errorf("%d bytes is too long (at most %d)", len(s), maxLineLen)
	}
	toks := tokens(s)
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty (want %s)", LineSyntax)
	}
	l := &Line{}
	i := 0
	for ; i < len(toks); i++ {
		key, value, ok := strings.Cut(toks[i].text, "=")
		if !ok || key == "CRON_TZ" || key == "TZ" {
			break
		}
		if err := l.setOption(key, value); err != nil {
			return nil, err
		}
	}
	spec, n, err := splitSpec(toks[i:])
	if err != nil {
		return nil, err
	}
	l.Spec = spec
	i += n
	if i >= len(toks) {
		return nil, fmt.Errorf("no job kind after the schedule %q (want %s)", spec, LineSyntax)
	}
	l.Kind = toks[i].text
	if !kindLike(l.Kind) {
		return nil, fmt.Errorf("%q after the schedule %q is not a job kind (want %s)", l.Kind, spec, LineSyntax)
	}
	l.Args = json.RawMessage("{}")
	if rest := strings.TrimSpace(s[toks[i].end:]); rest != "" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(rest)); err != nil {
			return nil, fmt.Errorf("the args of %s are not valid JSON (%v): %s", l.Kind, err, rest)
		}
		l.Args = buf.Bytes()
	}
	return l, nil
}

// setOption applies one key=value option.
func (l *Line) setOption(key, value string) error {
	var err error
	switch key {
	case "name":
		if value == "" {
			return errors.New("name= is empty")
		}
		l.Name = value
	case "queue":
		l.Queue = value
	case "priority":
		l.Priority, err = strconv.Atoi(value)
	case "max_attempts":
		l.MaxAttempts, err = strconv.Atoi(value)
		if err == nil && l.MaxAttempts < 1 {
			err = errors.New("want 1 or more")
		}
	case "timeout":
		l.Timeout, err = time.ParseDuration(value)
		if err == nil && l.Timeout <= 0 {
			err = errors.New("want a positive duration")
		}
	case "catchup", "catch_up":
		l.CatchUp = store.CatchUp(value)
		if !l.CatchUp.Valid() {
			err = errors.New("want once, skip or all")
		}
	default:
		return fmt.Errorf("unknown option %q (options come before the schedule: name, queue, priority, max_attempts, timeout, catchup)", key+"=")
	}
	if err != nil {
		return fmt.Errorf("option %s=%s: %v", key, value, err)
	}
	return nil
}

// splitSpec finds the schedule at the start of toks and returns it and
// how many tokens it took. A cron line takes six fields if those parse
// and a kind follows, else five.
func splitSpec(toks []token) (string, int, error) {
	if len(toks) == 0 {
		return "", 0, fmt.Errorf("no schedule (want %s)", LineSyntax)
	}
	tz := 0
	if strings.HasPrefix(toks[0].text, "CRON_TZ=") || strings.HasPrefix(toks[0].text, "TZ=") {
		tz = 1
	}
	join := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = toks[i].text
		}
		return strings.Join(parts, " ")
	}
	if len(toks) <= tz {
		_, err := schedule.Parse(join(len(toks)))
		return "", 0, fmt.Errorf("%v", errOr(err, "no schedule after "+toks[0].text))
	}
	var candidates []int
	switch first := toks[tz].text; {
	case first == "@every":
		candidates = []int{tz + 2}
	case strings.HasPrefix(first, "@"):
		candidates = []int{tz + 1}
	default:
		candidates = []int{tz + 6, tz + 5}
	}
	var firstErr error
	for _, n := range candidates {
		if n > len(toks) {
			continue
		}
		spec := join(n)
		_, err := schedule.Parse(spec)
		if err != nil {
			if firstErr == nil || n == tz+5 {
				firstErr = err // the five-field error is the more likely meant
			}
			continue
		}
		if n < len(toks) && kindLike(toks[n].text) || len(candidates) == 1 || n == tz+5 {
			return spec, n, nil
		}
	}
	if firstErr == nil {
		_, firstErr = schedule.Parse(join(len(toks)))
	}
	return "", 0, errOr(firstErr, "no schedule at the start")
}

func errOr(err error, msg string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%s (want %s)", msg, LineSyntax)
}

// kindLike reports whether tok can be a job kind rather than JSON args: a
// kind does not start like a JSON value.
func kindLike(tok string) bool {
	if tok == "" || tok == "true" || tok == "false" || tok == "null" {
		return false
	}
	switch c := tok[0]; {
	case c == '{' || c == '[' || c == '"' || c == '-' || c >= '0' && c <= '9':
		return false
	}
	return true
}

// token is a word of a line and where it ends.
type token struct {
	text string
	end  int
}

// tokens splits s on white space like strings.Fields, keeping each
// word's end offset.
func tokens(s string) []token {
	var out []token
	start := -1
	for i, r := range s {
		space := r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
		switch {
		case space && start >= 0:
			out = append(out, token{s[start:i], i})
			start = -1
		case !space && start < 0:
			start = i
		}
	}
	if start >= 0 {
		out = append(out, token{s[start:], len(s)})
	}
	return out
}

// String renders l in the line syntax; ParseLine(l.String()) gives l back.
func (l *Line) String() string {
	var b strings.Builder
	add := func(k, v string) { fmt.Fprintf(&b, "%s=%s ", k, v) }
	if l.Name != "" {
		add("name", l.Name)
	}
	if l.Queue != "" {
		add("queue", l.Queue)
	}
	if l.Priority != 0 {
		add("priority", strconv.Itoa(l.Priority))
	}
	if l.MaxAttempts != 0 {
		add("max_attempts", strconv.Itoa(l.MaxAttempts))
	}
	if l.Timeout != 0 {
		add("timeout", l.Timeout.String())
	}
	if l.CatchUp != "" {
		add("catchup", string(l.CatchUp))
	}
	b.WriteString(l.Spec + " " + l.Kind)
	if len(l.Args) > 0 && string(l.Args) != "{}" {
		b.WriteString(" " + string(l.Args))
	}
	return b.String()
}
