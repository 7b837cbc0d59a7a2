package procfile

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	src := "# a comment\n\nweb: gunicorn app:wsgi --bind 0.0.0.0:$PORT\r\nworker:   celery -A app worker  \n  clock_2-b : bin/clock\nrelease: ./manage.py migrate"
	got, err := Parse(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Name: "web", Command: "gunicorn app:wsgi --bind 0.0.0.0:$PORT", Line: 3},
		{Name: "worker", Command: "celery -A app worker", Line: 4},
		{Name: "clock_2-b", Command: "bin/clock", Line: 5},
		{Name: "release", Command: "./manage.py migrate", Line: 6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		line int
		msg  string
	}{
		{"web: a\nthis is not a process\n", 2, `is not "name: command"`},
		{"\n\nweb app: run\n", 3, `process type "web app"`},
		{"web: a\nworker:\n", 2, `"worker" has no command`},
		{"web: a\n# x\nweb: b\n", 3, `"web" is already defined on line 1`},
		{"wéb: a\n", 1, "use only letters"},
	} {
		_, err := Parse(strings.NewReader(tc.src))
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("Parse(%q) = %v, want a *SyntaxError", tc.src, err)
		}
		if se.Line != tc.line || !strings.Contains(se.Error(), tc.msg) {
			t.Errorf("Parse(%q) = %q at line %d, want line %d containing %q", tc.src, se.Error(), se.Line, tc.line, tc.msg)
		}
	}
}

func TestFormation(t *testing.T) {
	t.Parallel()
	entries := []Entry{{Name: "web"}, {Name: "worker"}, {Name: "clock"}}
	for _, tc := range []struct {
		in   string
		want map[string]int
		err  string
	}{
		{"", map[string]int{"web": 1, "worker": 1, "clock": 1}, ""},
		{"web=1, worker=2", map[string]int{"web": 1, "worker": 2, "clock": 0}, ""},
		{"all=2,clock=0", map[string]int{"web": 2, "worker": 2, "clock": 0}, ""},
		{"web=1,wrker=2", nil, `unknown process type "wrker" in the formation (the Procfile has: web, worker, clock)`},
		{"web", nil, `"web" is not name=count`},
		{"web=-1", nil, "not a whole number"},
		{"w b=1", nil, ""}, // blanks are dropped: "wb" is then unknown
	} {
		f, err := ParseFormation(tc.in)
		var counts map[string]int
		if err == nil {
			counts, err = f.Counts(entries)
		}
		switch {
		case tc.want != nil && err != nil:
			t.Errorf("formation %q: %v", tc.in, err)
		case tc.want == nil && err == nil:
			t.Errorf("formation %q: got %v, want an error", tc.in, counts)
		case tc.want == nil && !strings.Contains(err.Error(), tc.err):
			t.Errorf("formation %q: error %q, want it to contain %q", tc.in, err, tc.err)
		case tc.want != nil && !reflect.DeepEqual(counts, tc.want):
			t.Errorf("formation %q: got %v, want %v", tc.in, counts, tc.want)
		}
	}
}

// FuzzParse checks that Parse never panics, that errors carry a line inside
// the input, and that the entries it returns survive being written back.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"web: bundle exec puma -C config/puma.rb\nworker: bundle exec sidekiq\n",
		"# comment\n\nweb: gunicorn app:app\r\n",
		"web:a\nweb:b",
		"bad line\n",
		": no name\n",
		"web:\n",
		"a-b_c: x: y: z",
		"\x00: \xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		entries, err := Parse(strings.NewReader(src))
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Line > strings.Count(src, "\n")+1 {
				t.Fatalf("Parse(%q): error %v has no line inside the input", src, err)
			}
			return
		}
		var b strings.Builder
		last := 0
		for _, e := range entries {
			if !ValidName(e.Name) || e.Command == "" || strings.ContainsAny(e.Command, "\n") || e.Line <= last {
				t.Fatalf("Parse(%q): bad entry %+v", src, e)
			}
			last = e.Line
			fmt.Fprintf(&b, "%s: %s\n", e.Name, e.Command)
		}
		again, err := Parse(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("reparsing %q: %v", b.String(), err)
		}
		if len(again) != len(entries) {
			t.Fatalf("reparsing gave %d entries, want %d", len(again), len(entries))
		}
		for i := range again {
			if again[i].Name != entries[i].Name || again[i].Command != entries[i].Command {
				t.Fatalf("entry %d: reparsed %+v, want %+v", i, again[i], entries[i])
			}
		}
	})
}

// FuzzFormation checks that a parsed formation writes back to itself.
func FuzzFormation(f *testing.F) {
	for _, s := range []string{"", "all=1", "web=1,worker=2", "web=", "=1", "a=1,a=2", "x=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		form, err := ParseFormation(s)
		if err != nil {
			return
		}
		var parts []string
		for k, v := range form {
			if !ValidName(k) || v < 0 {
				t.Fatalf("ParseFormation(%q) = %v", s, form)
			}
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
		again, err := ParseFormation(strings.Join(parts, ","))
		if err != nil || !reflect.DeepEqual(again, form) {
			t.Fatalf("ParseFormation(%q) = %v, written back and parsed: %v, %v", s, form, again, err)
		}
	})
}
