package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

func TestEnqueueThenStats(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	mustRun(t, "enqueue", "--store", url, "noop")
	mustRun(t, "enqueue", "--store", url, "noop", "--in", "1h")
	mustRun(t, "enqueue", "--store", url, "noop", "--at", time.Now().Add(48*time.Hour).Format(time.RFC3339))
	if out := mustRun(t, "enqueue", "--store", url, "sleep", `{"ms": 1}`, "--queue", "low", "--count", "2500", "--priority", "3"); !strings.Contains(out, `enqueued 2500 sleep jobs to queue "low"`) {
		t.Fatalf("enqueue --count 2500 printed %q", out)
	}

	var got struct {
		Queues []struct {
			Name                      string                `json:"name"`
			Counts                    map[store.State]int64 `json:"counts"`
			OldestAvailableAgeSeconds float64               `json:"oldest_available_age_seconds"`
		} `json:"queues"`
	}
	out := mustRun(t, "stats", "--store", url, "--json")
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("stats --json printed %q: %v", out, err)
	}
	if len(got.Queues) != 2 || got.Queues[0].Name != "default" || got.Queues[1].Name != "low" {
		t.Fatalf("stats --json queues = %+v, want default and low", got.Queues)
	}
	def, low := got.Queues[0], got.Queues[1]
	if def.Counts[store.StateAvailable] != 1 || def.Counts[store.StateScheduled] != 2 {
		t.Errorf("default counts %v, want 1 available and 2 scheduled", def.Counts)
	}
	if low.Counts[store.StateAvailable] != 2500 {
		t.Errorf("low counts %v, want 2500 available", low.Counts)
	}
	if def.OldestAvailableAgeSeconds <= 0 {
		t.Errorf("default's oldest available job is %vs old, want a positive age", def.OldestAvailableAgeSeconds)
	}

	table := mustRun(t, "stats", "--store", url)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "QUEUE") {
		t.Fatalf("stats table:\n%s\nwant a header and two queues", table)
	}
	for i, want := range [][]string{{"default", "0", "2", "1", "0"}, {"low", "0", "0", "2500", "0"}} {
		if fields := strings.Fields(lines[i+1]); len(fields) < len(want) || !slices.Equal(fields[:len(want)], want) {
			t.Errorf("stats line %q, want it to start with %q", lines[i+1], want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		850 * time.Millisecond:        "850ms",
		12300 * time.Millisecond:      "12.3s",
		4*time.Minute + 5*time.Second: "4m05s",
		3*time.Hour + 20*time.Minute:  "3h20m",
		52*time.Hour + 10*time.Minute: "2d04h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
