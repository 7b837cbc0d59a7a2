package procfile

import (
	"fmt"
	"io"
	"strings"
)

// Var is one variable of a .env file.
type Var struct {
	Key   string
	Value string // after unquoting, escapes and ${VAR} expansion
	Line  int    // 1-based line where the variable starts
}

// Lookup finds a variable of the environment the .env file is loaded into;
// ok is false when it is not set.
type Lookup func(key string) (value string, ok bool)

// ParseEnv reads a .env file:
//
//	KEY=value            # blanks around the value and a trailing comment are dropped
//	export KEY=value     # "export " is allowed and ignored
//	KEY='literal $x\n'   # single quotes: taken as written, may span lines
//	KEY="a\nb ${HOME}"   # double quotes: \n \r \t \" \\ \$ escapes, may span lines
//	URL=http://${HOST}:$PORT/ # ${VAR}, $VAR and ${VAR:-default} expand
//
// Lines starting with '#' and blank lines are skipped. A reference expands to
// lookup's value when it has one (the environment wins, as platform config
// vars do), else to a variable defined earlier in this file, else to "".
// lookup may be nil. A malformed line is a *SyntaxError with its line.
func ParseEnv(r io.Reader, lookup Lookup) ([]Var, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading .env: %w", err)
	}
	p := &envParser{src: string(data), line: 1, lookup: lookup, vals: make(map[string]string)}
	return p.parse()
}

// Environ returns environ ("KEY=value" entries) with the vars of each file
// added: a key already in environ keeps its value, and among the files a
// later definition overrides an earlier one.
func Environ(environ []string, files ...[]Var) []string {
	present := make(map[string]bool, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		present[k] = true
	}
	merged := make(map[string]string)
	var order []string
	for _, vars := range files {
		for _, v := range vars {
			if present[v.Key] {
				continue
			}
			if _, ok := merged[v.Key]; !ok {
				order = append(order, v.Key)
			}
			merged[v.Key] = v.Value
		}
	}
	out := append([]string(nil), environ...)
	for _, k := range order {
		out = append(out, k+"="+merged[k])
	}
	return out
}

type envParser struct {
	src    string
	pos    int
	line   int
	lookup Lookup
	vals   map[string]string // effective values so far, for expansion
}

func (p *envParser) errorf(line int, format string, args ...any) error {
	return &SyntaxError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *envParser) eof() bool { return p.pos >= len(p.src) }

// skipBlank skips spaces, tabs and carriage returns (not newlines).
func (p *envParser) skipBlank() {
	for !p.eof() && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

// skipLine moves past the next newline.
func (p *envParser) skipLine() {
	for !p.eof() && p.src[p.pos] != '\n' {
		p.pos++
	}
	if !p.eof() {
		p.pos++
		p.line++
	}
}

func (p *envParser) parse() ([]Var, error) {
	var vars []Var
	for {
		p.skipBlank()
		if p.eof() {
			return vars, nil
		}
		if c := p.src[p.pos]; c == '\n' || c == '#' {
			p.skipLine()
			continue
		}
		v, ok, err := p.parseVar()
		if err != nil {
			return nil, err
		}
		if ok {
			vars = append(vars, v)
			if env, set := p.lookupEnv(v.Key); set {
				p.vals[v.Key] = env
			} else {
				p.vals[v.Key] = v.Value
			}
		}
	}
}

func (p *envParser) lookupEnv(key string) (string, bool) {
	if p.lookup == nil {
		return "", false
	}
	return p.lookup(key)
}

// parseVar parses one assignment starting at a non-blank character. ok is
// false for a bare "export KEY", which only marks a variable for export in a
// shell and is skipped here.
func (p *envParser) parseVar() (Var, bool, error) {
	start := p.line
	exported := false
	if strings.HasPrefix(p.src[p.pos:], "export") && p.pos+6 < len(p.src) && (p.src[p.pos+6] == ' ' || p.src[p.pos+6] == '\t') {
		p.pos += 6
		p.skipBlank()
		exported = true
	}
	key := p.readName()
	if key == "" {
		return Var{}, false, p.errorf(start, "%q is not KEY=value (a key starts with a letter or '_' and has letters, digits, '_' and '.')", clip(p.restOfLine()))
	}
	p.skipBlank()
	if p.eof() || p.src[p.pos] == '\n' || p.src[p.pos] == '#' {
		if exported {
			p.skipLine()
			return Var{}, false, nil
		}
		return Var{}, false, p.errorf(start, "%s has no '=': write %s=value", key, key)
	}
	if p.src[p.pos] != '=' {
		return Var{}, false, p.errorf(start, "expected '=' after %s, found %q", key, p.src[p.pos:p.pos+1])
	}
	p.pos++
	p.skipBlank()
	value, err := p.readValue(key, start)
	if err != nil {
		return Var{}, false, err
	}
	return Var{Key: key, Value: value, Line: start}, true, nil
}

func (p *envParser) readName() string {
	i := p.pos
	for i < len(p.src) {
		c := p.src[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > p.pos && (c >= '0' && c <= '9' || c == '.') {
			i++
			continue
		}
		break
	}
	name := p.src[p.pos:i]
	p.pos = i
	return name
}

func (p *envParser) restOfLine() string {
	end := strings.IndexByte(p.src[p.pos:], '\n')
	if end < 0 {
		return p.src[p.pos:]
	}
	return p.src[p.pos : p.pos+end]
}

func (p *envParser) readValue(key string, start int) (string, error) {
	if p.eof() {
		return "", nil
	}
	switch q := p.src[p.pos]; q {
	case '\'', '"':
		raw, err := p.readQuoted(q, key, start)
		if err != nil {
			return "", err
		}
		p.skipBlank()
		if !p.eof() && p.src[p.pos] != '\n' && p.src[p.pos] != '#' {
			return "", p.errorf(p.line, "unexpected %q after the closing quote of %s", clip(p.restOfLine()), key)
		}
		p.skipLine()
		if q == '\'' {
			return raw, nil
		}
		return p.decode(raw, true, start)
	default:
		raw := p.restOfLine()
		p.skipLine()
		// A '#' after a blank starts a comment.
		for i := 0; i < len(raw); i++ {
			if raw[i] == '#' && (i == 0 || raw[i-1] == ' ' || raw[i-1] == '\t') {
				raw = raw[:i]
				break
			}
		}
		return p.decode(strings.TrimRight(raw, " \t\r"), false, start)
	}
}

// readQuoted returns the text between quote q at p.pos and its closing quote
// (escaped double quotes included as written), counting the lines it spans.
func (p *envParser) readQuoted(q byte, key string, start int) (string, error) {
	p.pos++
	from := p.pos
	for !p.eof() {
		c := p.src[p.pos]
		switch {
		case c == q:
			raw := p.src[from:p.pos]
			p.pos++
			return raw, nil
		case c == '\\' && q == '"' && p.pos+1 < len(p.src):
			if p.src[p.pos+1] == '\n' {
				p.line++
			}
			p.pos += 2
			continue
		case c == '\n':
			p.line++
		}
		p.pos++
	}
	return "", p.errorf(start, "the value of %s opens a %c quote that is never closed", key, q)
}

// decode applies escapes (all of them in double quotes, only \$ unquoted)
// and expands variable references.
func (p *envParser) decode(raw string, quoted bool, line int) (string, error) {
	if !strings.ContainsAny(raw, `\$`) {
		return raw, nil
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i+1 < len(raw) {
			next := raw[i+1]
			switch {
			case next == '$':
				b.WriteByte('$')
			case !quoted:
				b.WriteByte(c)
				continue
			case next == 'n':
				b.WriteByte('\n')
			case next == 'r':
				b.WriteByte('\r')
			case next == 't':
				b.WriteByte('\t')
			case next == '"' || next == '\\':
				b.WriteByte(next)
			default:
				b.WriteByte(c)
				continue
			}
			i++
			continue
		}
		if c != '$' || i+1 >= len(raw) {
			b.WriteByte(c)
			continue
		}
		n, err := p.expand(&b, raw[i+1:], line)
		if err != nil {
			return "", err
		}
		i += n
	}
	return b.String(), nil
}

// expand writes the value of the reference at the start of s (just after a
// '$') and returns how many bytes of s it used; a '$' not followed by a
// name or '{' is written as is.
func (p *envParser) expand(b *strings.Builder, s string, line int) (int, error) {
	if s[0] == '{' {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return 0, p.errorf(line, "%q: ${ is never closed with }", clip("$"+s))
		}
		name, def, hasDef := strings.Cut(s[1:end], ":-")
		if !validVarName(name) {
			return 0, p.errorf(line, "${%s}: %q is not a variable name", clip(s[1:end]), clip(name))
		}
		v := p.resolve(name)
		if v == "" && hasDef {
			v = def
		}
		b.WriteString(v)
		return end + 1, nil
	}
	n := 0
	for n < len(s) && (s[n] == '_' || s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || n > 0 && s[n] >= '0' && s[n] <= '9') {
		n++
	}
	if n == 0 {
		b.WriteByte('$')
		return 0, nil
	}
	b.WriteString(p.resolve(s[:n]))
	return n, nil
}

func (p *envParser) resolve(name string) string {
	if v, ok := p.lookupEnv(name); ok {
		return v
	}
	return p.vals[name]
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
