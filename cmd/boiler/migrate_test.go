package main

import (
	"strings"
	"testing"
)

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	url := tempStore(t) // the first migrate
	out := mustRun(t, "migrate", "--store", url)
	if !strings.Contains(out, url) || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate printed %q, want the store and \"up to date\"", out)
	}
	// The schema works: stats reads it.
	if out := mustRun(t, "stats", "--store", url); !strings.Contains(out, "no queues") {
		t.Fatalf("stats after migrate printed %q, want \"no queues\"", out)
	}
}
