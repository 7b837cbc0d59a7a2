// Package procfile parses the files foreman and the platforms read: a
// Procfile (process types and their commands), .env files (environment
// variables), and the -m formation ("web=1,worker=2").
//
// Every function here is pure: it reads what it is given, returns values and
// errors that name the line, and never exits or touches the process
// environment. The package imports nothing of this module.
package procfile

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Entry is one process type of a Procfile.
type Entry struct {
	// Name is the process type, e.g. "web": letters, digits, '_' and '-'.
	Name string
	// Command is the shell command, trimmed of surrounding blanks.
	Command string
	// Line is the 1-based line of the entry in the Procfile.
	Line int
}

// SyntaxError is a bad line in a Procfile or a .env file.
type SyntaxError struct {
	Line int    // 1-based line number
	Msg  string // what is wrong, and how to write it instead
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Parse reads a Procfile: one "name: command" per line; blank lines and
// lines starting with '#' are skipped. A line of any other shape, an empty
// command or a name defined twice is a *SyntaxError with its line number.
func Parse(r io.Reader) ([]Entry, error) {
	var entries []Entry
	seen := make(map[string]int)
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("reading line %d: %w", n, err)
		}
		if line == "" && err == io.EOF {
			return entries, nil
		}
		e, ok, perr := parseLine(line, n)
		if perr != nil {
			return nil, perr
		}
		if ok {
			if first, dup := seen[e.Name]; dup {
				return nil, &SyntaxError{Line: n, Msg: fmt.Sprintf("process type %q is already defined on line %d", e.Name, first)}
			}
			seen[e.Name] = n
			entries = append(entries, e)
		}
		if err == io.EOF {
			return entries, nil
		}
	}
}

// parseLine parses one Procfile line; ok is false for blank and comment lines.
func parseLine(line string, n int) (e Entry, ok bool, err error) {
	s := strings.TrimSpace(line)
	if s == "" || s[0] == '#' {
		return Entry{}, false, nil
	}
	colon := strings.IndexByte(s, ':')
	if colon < 0 {
		return Entry{}, false, &SyntaxError{Line: n, Msg: fmt.Sprintf("%q is not \"name: command\"", clip(s))}
	}
	name := strings.TrimRight(s[:colon], " \t")
	if !ValidName(name) {
		return Entry{}, false, &SyntaxError{Line: n, Msg: fmt.Sprintf("process type %q: use only letters, digits, '_' and '-'", clip(name))}
	}
	cmd := strings.TrimSpace(s[colon+1:])
	if cmd == "" {
		return Entry{}, false, &SyntaxError{Line: n, Msg: fmt.Sprintf("process type %q has no command", name)}
	}
	return Entry{Name: name, Command: cmd, Line: n}, true, nil
}

// ValidName reports whether s is a valid process type name: one or more
// letters, digits, '_' or '-'.
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 60
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
