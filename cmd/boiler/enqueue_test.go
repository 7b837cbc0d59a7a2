package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestEnqueuePrintsID(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	out, errOut, err := runCmd(t, "", "enqueue", "--store", url, "noop", `{"i": 1}`)
	if err != nil {
		t.Fatal(err)
	}
	id, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("enqueue printed %q, want a job id", out)
	}
	if errOut != "" {
		t.Errorf("enqueue of a built-in kind printed %q on stderr, want nothing", errOut)
	}
	second := mustRun(t, "enqueue", "--store", url, "noop")
	if next, _ := strconv.ParseInt(strings.TrimSpace(second), 10, 64); next <= id {
		t.Fatalf("second enqueue printed %q, want an id after %d", second, id)
	}
}

func TestEnqueueUnknownKindWarns(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	out, errOut, err := runCmd(t, "", "enqueue", "--store", url, "email", `{"to": "a@example.com"}`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) == "" {
		t.Error("enqueue of an unknown kind printed no id: it must still be enqueued")
	}
	if !strings.Contains(errOut, `warning: "email" is not a built-in kind`) {
		t.Errorf("stderr %q, want a warning about the kind", errOut)
	}
}

func TestEnqueueUnique(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	first := mustRun(t, "enqueue", "--store", url, "noop", "--unique", "daily-report")
	out, errOut, err := runCmd(t, "", "enqueue", "--store", url, "noop", "--unique", "daily-report")
	if err != nil {
		t.Fatal(err)
	}
	if out != first || !strings.Contains(errOut, `already holds the unique key "daily-report"`) {
		t.Fatalf("duplicate enqueue printed %q / %q, want the first job's id %q and a note", out, errOut, first)
	}
	out = mustRun(t, "enqueue", "--store", url, "noop", "--unique", "daily-report", "--count", "3")
	if !strings.Contains(out, "enqueued 0 noop jobs") || !strings.Contains(out, "3 not added") {
		t.Fatalf("--count 3 of a held key printed %q, want 0 enqueued and 3 not added", out)
	}
}

func TestEnqueueStdin(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	if _, _, err := runCmd(t, `{"ms": 5}`, "enqueue", "--store", url, "sleep", "-"); err != nil {
		t.Fatalf("enqueue with args from stdin: %v", err)
	}
	if _, _, err := runCmd(t, `{"ms": `, "enqueue", "--store", url, "sleep", "-"); err == nil ||
		!strings.Contains(err.Error(), "unexpected end of JSON input") {
		t.Fatalf("enqueue with truncated args from stdin: %v, want a JSON error", err)
	}
}

func TestEnqueueBadInput(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"syntax error", []string{"noop", `{"i": x}`}, []string{"args JSON: line 1, column 7", "invalid character 'x'"}},
		{"syntax error on line 3", []string{"noop", "{\n  \"i\": 1,\n  \"j\": }"}, []string{"line 3, column 8"}},
		{"truncated", []string{"noop", `{"i": 1`}, []string{"line 1, column 8", "unexpected end of JSON input"}},
		{"trailing data", []string{"noop", `{"i": 1} {}`}, []string{"line 1, column 10", "unexpected data after the JSON value"}},
		{"not an object", []string{"noop", `[1, 2]`}, []string{"want an object", "[1, 2]"}},
		{"no kind", nil, []string{"accepts between 1 and 2 arg(s)"}},
		{"count", []string{"noop", "--count", "0"}, []string{"--count is 0"}},
		{"in and at", []string{"noop", "--in", "5m", "--at", "2030-01-02T15:04:05Z"}, []string{"--at and --in both set"}},
		{"bad at", []string{"noop", "--at", "tomorrow"}, []string{`--at "tomorrow"`, "RFC 3339"}},
		{"negative in", []string{"noop", "--in", "-5m"}, []string{"--in is -5m0s"}},
		{"bad queue", []string{"noop", "--queue", "a b"}, []string{"queue name \"a b\""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runCmd(t, "", append([]string{"enqueue", "--store", url}, tt.args...)...)
			if err == nil {
				t.Fatalf("enqueue %q succeeded, want an error", tt.args)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}
