package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// boiler run gives the command the .env's variables (the environment
// wins), runs a Procfile entry by name, and exits with the command's
// status.
func TestRunCmd(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		".env":     "GREETING=\"hello ${USER_NAME:-you}\"\nHOME=/not/the/real/home\n",
		"Procfile": "hello: echo \"entry says $GREETING\"\n",
	})
	env := filepath.Join(dir, ".env")
	out, err := runRoot(t, dir, "run", "-e", env, "-f", filepath.Join(dir, "Procfile"), "--", "sh", "-c", "echo \"$GREETING from $HOME\"; exit 3")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 {
		t.Fatalf("run = %v, want exit status 3", err)
	}
	if strings.Contains(out, "/not/the/real/home") || !strings.Contains(out, "hello you from /") {
		t.Errorf("output %q: want the .env's GREETING and the real HOME", out)
	}
	out, err = runRoot(t, dir, "run", "-e", env, "-f", filepath.Join(dir, "Procfile"), "hello")
	if err != nil || out != "entry says hello you\n" {
		t.Errorf("run hello = %q, %v", out, err)
	}
	out, err = runRoot(t, dir, "run", "-e", env, "kill -KILL $$")
	if !errors.As(err, &ee) || ee.code != 137 {
		t.Errorf("run of a killed command = %v, %q; want status 137", err, out)
	}
	if _, err := runRoot(t, dir, "run", "-e", filepath.Join(dir, "missing.env"), "true"); err == nil || !strings.Contains(err.Error(), "missing.env") {
		t.Errorf("run with a missing -e file = %v", err)
	}
}
