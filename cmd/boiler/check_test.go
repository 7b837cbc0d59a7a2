package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// boiler check names the line, the value and what to set, and fails on
// errors.
func TestCheckCmd(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"Procfile": "web: gunicorn app:wsgi --timeout 120\n" +
			"worker: celery -A app worker\n" +
			"api: uwsgi --http :$PORT --harakiri 60\n" +
			"async: gunicorn -k gevent app:wsgi\n",
		".env": "GUNICORN_CMD_ARGS=--workers 3\n",
	})
	pf := filepath.Join(dir, "Procfile")
	out, err := runRoot(t, dir, "check", "-f", pf, "-e", filepath.Join(dir, ".env"), "-m", "web=1,wrker=2")
	if err == nil || !strings.Contains(err.Error(), "3 error(s)") {
		t.Fatalf("check = %v, want 3 errors:\n%s", err, out)
	}
	for _, want := range []string{
		pf + `: error: -m web=1,wrker=2: unknown process type "wrker"`,
		pf + ":1: error: web: gunicorn --timeout 120 is at or above the router's 30s",
		"Set --timeout 25",
		pf + ":3: error: api: uwsgi --harakiri 60 is at or above the router's 30s",
		pf + ":4: warning: async: with -k gevent, gunicorn's default --timeout (30s) only checks that a worker is alive",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}

	// A Procfile error with its line; a web that ignores $PORT.
	dir = writeFiles(t, map[string]string{"Procfile": "web: uvicorn app:app\nnot a line\n"})
	out, err = runRoot(t, dir, "check", "-f", filepath.Join(dir, "Procfile"))
	if err == nil || !strings.Contains(out, `Procfile:2: error: "not a line" is not "name: command"`) {
		t.Errorf("check = %v:\n%s", err, out)
	}
	dir = writeFiles(t, map[string]string{"Procfile": "web: uvicorn app:app\n"})
	out, err = runRoot(t, dir, "check", "-f", filepath.Join(dir, "Procfile"), "--router-timeout", "1m")
	if err == nil || !strings.Contains(out, "Procfile:1: error: web: uvicorn does not read $PORT") || !strings.Contains(out, "--port $PORT") {
		t.Errorf("check = %v:\n%s", err, out)
	}

	// A .env error is a finding too; a clean Procfile passes.
	dir = writeFiles(t, map[string]string{"Procfile": "web: gunicorn app -t 20\n", ".env": "A=1\nB=\"open\n"})
	out, err = runRoot(t, dir, "check", "-f", filepath.Join(dir, "Procfile"), "-e", filepath.Join(dir, ".env"))
	if err == nil || !strings.Contains(out, ".env:2: error: the value of B opens a \" quote that is never closed") {
		t.Errorf("check = %v:\n%s", err, out)
	}
	dir = writeFiles(t, map[string]string{"Procfile": "web: gunicorn app -t 20\n"})
	if out, err = runRoot(t, dir, "check", "-f", filepath.Join(dir, "Procfile"), "-e", ""); err != nil || !strings.Contains(out, "ok") {
		t.Errorf("check of a clean Procfile = %v:\n%s", err, out)
	}
}
