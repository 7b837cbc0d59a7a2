package procfile

import (
	"fmt"
	"strconv"
	"strings"
)

// All is the formation key that sets the count of every process type not
// named explicitly ("all=1,worker=3").
const All = "all"

// Formation is how many instances of each process type to run, as written
// after foreman's -m: "web=1,worker=2" or "all=1,worker=3". The key [All]
// stands for every process type not named.
type Formation map[string]int

// ParseFormation parses "name=count,..." (blanks ignored). An empty string
// is "all=1", foreman's default. A name or count that is not valid is an
// error naming the pair.
func ParseFormation(s string) (Formation, error) {
	s = strings.Join(strings.Fields(s), "")
	if s == "" {
		return Formation{All: 1}, nil
	}
	f := make(Formation)
	for _, pair := range strings.Split(s, ",") {
		name, count, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("formation %q: %q is not name=count", s, pair)
		}
		if !ValidName(name) {
			return nil, fmt.Errorf("formation %q: %q is not a process type name", s, name)
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("formation %q: count %q of %s is not a whole number >= 0", s, count, name)
		}
		f[name] = n
	}
	return f, nil
}

// Counts returns the instance count of every entry: its own count in f,
// else f's [All] count, else 0. A name in f (other than [All]) that is not
// an entry is an error naming it and listing the entries.
func (f Formation) Counts(entries []Entry) (map[string]int, error) {
	known := make(map[string]bool, len(entries))
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		known[e.Name] = true
		names = append(names, e.Name)
	}
	for name := range f {
		if name != All && !known[name] {
			return nil, fmt.Errorf("unknown process type %q in the formation (the Procfile has: %s)", name, strings.Join(names, ", "))
		}
	}
	counts := make(map[string]int, len(entries))
	for _, e := range entries {
		n, ok := f[e.Name]
		if !ok {
			n = f[All]
		}
		counts[e.Name] = n
	}
	return counts, nil
}
