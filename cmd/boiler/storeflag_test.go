package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCmd runs the boiler command tree in process with args and returns
// its standard output, its standard error and its error.
func runCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// mustRun is runCmd for commands that must succeed; it returns stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCmd(t, "", args...)
	if err != nil {
		t.Fatalf("boiler %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// tempStore returns the URL of a new, migrated SQLite file.
func tempStore(t *testing.T) string {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "jobs.db")
	mustRun(t, "migrate", "--store", url)
	return url
}

// runBinary runs the built boiler binary (see TestMain) in dir with the
// environment env only, and returns its combined output and error.
func runBinary(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(boilerBin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestStoreFlagOrder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flagDB, envDB := filepath.Join(dir, "flag.db"), filepath.Join(dir, "env.db")

	// No flag, no variable: sqlite://boiler.db in the working directory.
	if out, err := runBinary(t, dir, nil, "migrate"); err != nil {
		t.Fatalf("migrate with the default store: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "boiler.db")); err != nil {
		t.Fatalf("the default store was not created in the working directory: %v", err)
	}
	// The variable.
	env := []string{"BOILER_STORE_URL=sqlite://" + envDB}
	if out, err := runBinary(t, dir, env, "migrate"); err != nil {
		t.Fatalf("migrate with BOILER_STORE_URL: %v\n%s", err, out)
	}
	if _, err := os.Stat(envDB); err != nil {
		t.Fatalf("BOILER_STORE_URL's store was not created: %v", err)
	}
	// The flag wins over the variable.
	if out, err := runBinary(t, dir, env, "migrate", "--store", "sqlite://"+flagDB); err != nil {
		t.Fatalf("migrate --store: %v\n%s", err, out)
	}
	if _, err := os.Stat(flagDB); err != nil {
		t.Fatalf("--store's store was not created: %v", err)
	}
	// env:VAR reads the URL from VAR; an unset VAR is named.
	varDB := filepath.Join(dir, "var.db")
	env = []string{"BOILER_STORE_URL=env:APP_DB", "APP_DB=sqlite://" + varDB}
	if out, err := runBinary(t, dir, env, "enqueue", "noop"); err != nil {
		t.Fatalf("enqueue with env:APP_DB: %v\n%s", err, out)
	}
	if _, err := os.Stat(varDB); err != nil {
		t.Fatalf("env:APP_DB's store was not created: %v", err)
	}
	out, err := runBinary(t, dir, []string{"BOILER_STORE_URL=env:MISSING_DB"}, "stats")
	if err == nil || !strings.Contains(out, "$BOILER_STORE_URL") || !strings.Contains(out, "MISSING_DB is not set") {
		t.Fatalf("stats with env:MISSING_DB: %v, output %q; want an error naming the variable", err, out)
	}
}

func TestBadStoreURL(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"migrate", "enqueue", "work", "stats", "bench"} {
		args := []string{cmd, "--store", "mysql://admin:hunter2@db.example/app"}
		if cmd == "enqueue" {
			args = append(args, "noop")
		}
		_, _, err := runCmd(t, "", args...)
		if err == nil {
			t.Fatalf("boiler %s with a mysql:// store succeeded", cmd)
		}
		msg := err.Error()
		if strings.Contains(msg, "hunter2") {
			t.Errorf("boiler %s: error %q shows the password", cmd, msg)
		}
		for _, want := range []string{"--store", `"mysql://admin:xxxxx@db.example/app"`, `unknown scheme "mysql"`, "sqlite:", "postgres:", "redis:"} {
			if !strings.Contains(msg, want) {
				t.Errorf("boiler %s: error %q does not contain %q", cmd, msg, want)
			}
		}
	}
}
