package procfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseEnv(t *testing.T) {
	t.Parallel()
	src := `# settings
PLAIN=hello world   # a comment
export EXPORTED=yes
SPACED = around
EMPTY=
HASH=a#b
SINGLE='lit $PLAIN \n # not a comment'
DOUBLE="a\nb\t\"q\" \\ \$PLAIN ${PLAIN}" # comment
MULTI="line one
line two"
MULTI_SINGLE='x
y'
REF=${HOST}:$PORT/${MISSING:-def}
FROM_FILE=${PLAIN}!
OVERRIDDEN=file
USES_OVERRIDDEN=$OVERRIDDEN
DOLLAR=cost $5 and $ alone \$HOME
export ONLY_EXPORT
LAST=no newline`
	vars, err := ParseEnv(strings.NewReader(src), env(map[string]string{"HOST": "h", "PORT": "80", "OVERRIDDEN": "env"}))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	lines := map[string]int{}
	for _, v := range vars {
		got[v.Key] = v.Value
		lines[v.Key] = v.Line
	}
	want := map[string]string{
		"PLAIN":           "hello world",
		"EXPORTED":        "yes",
		"SPACED":          "around",
		"EMPTY":           "",
		"HASH":            "a#b",
		"SINGLE":          `lit $PLAIN \n # not a comment`,
		"DOUBLE":          "a\nb\t\"q\" \\ $PLAIN hello world",
		"MULTI":           "line one\nline two",
		"MULTI_SINGLE":    "x\ny",
		"REF":             "h:80/def",
		"FROM_FILE":       "hello world!",
		"OVERRIDDEN":      "file",
		"USES_OVERRIDDEN": "env", // the environment wins, in references too
		"DOLLAR":          "cost $5 and $ alone $HOME",
		"LAST":            "no newline",
	}
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("%s = %q, want %q", k, got[k], want[k])
			}
		}
		t.Fatalf("got %d vars, want %d", len(got), len(want))
	}
	if lines["MULTI"] != 9 || lines["MULTI_SINGLE"] != 11 || lines["REF"] != 13 || lines["LAST"] != 19 {
		t.Errorf("lines: %v", lines)
	}
}

func TestParseEnvErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		line int
		msg  string
	}{
		{"A=1\nNOEQUALS\n", 2, "NOEQUALS has no '='"},
		{"A=1\n\nB=\"open\nstill\n", 3, `value of B opens a " quote that is never closed`},
		{"C='x\n", 1, "' quote that is never closed"},
		{"D=\"x\" y\n", 1, `unexpected "y" after the closing quote of D`},
		{"1A=x\n", 1, "is not KEY=value"},
		{"E=${OOPS\n", 1, "never closed with }"},
		{"F=${A B}\n", 1, "is not a variable name"},
		{"G:x\n", 1, "expected '=' after G"},
	} {
		_, err := ParseEnv(strings.NewReader(tc.src), nil)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Fatalf("ParseEnv(%q) = %v, want a *SyntaxError", tc.src, err)
		}
		if se.Line != tc.line || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("ParseEnv(%q) = %q at line %d, want line %d containing %q", tc.src, se.Msg, se.Line, tc.line, tc.msg)
		}
	}
}

func TestEnviron(t *testing.T) {
	t.Parallel()
	got := Environ([]string{"HOME=/root", "PORT=80"},
		[]Var{{Key: "PORT", Value: "5000"}, {Key: "A", Value: "1"}, {Key: "B", Value: "1"}},
		[]Var{{Key: "A", Value: "2"}})
	want := []string{"HOME=/root", "PORT=80", "A=2", "B=1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Environ = %v, want %v", got, want)
	}
}

// quoteEnv writes v as a double-quoted .env value that ParseEnv reads back
// unchanged.
func quoteEnv(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(v) + `"`
}

// FuzzParseEnv checks that ParseEnv never panics, that errors carry a line
// inside the input, and that every value it returns survives being written
// back double-quoted.
func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{
		"A=1\nexport B='two'\nC=\"th\\nree\" # c\n",
		"URL=postgres://${USER:-me}@$HOST/db\n",
		"M=\"multi\nline\"\nN='also\nmulti'\n",
		"BAD\n",
		"X=\"unterminated\n",
		"Y=${\n",
		"Z=a \\$b \\\\ #c\r\n",
		"#only\n\n   \n",
		"export  E = spaced  ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		vars, err := ParseEnv(strings.NewReader(src), env(map[string]string{"HOST": "h"}))
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Line > strings.Count(src, "\n")+1 {
				t.Fatalf("ParseEnv(%q): error %v has no line inside the input", src, err)
			}
			return
		}
		var b strings.Builder
		for _, v := range vars {
			b.WriteString(v.Key + "=" + quoteEnv(v.Value) + "\n")
		}
		again, err := ParseEnv(strings.NewReader(b.String()), nil)
		if err != nil {
			t.Fatalf("reparsing %q: %v", b.String(), err)
		}
		if len(again) != len(vars) {
			t.Fatalf("reparsing gave %d vars, want %d", len(again), len(vars))
		}
		for i := range again {
			if again[i].Key != vars[i].Key || again[i].Value != vars[i].Value {
				t.Fatalf("var %d: reparsed %q=%q, want %q=%q", i, again[i].Key, again[i].Value, vars[i].Key, vars[i].Value)
			}
		}
	})
}
