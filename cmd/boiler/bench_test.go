package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doubleboiler/boiler/store"
)

func TestBenchJSONTiny(t *testing.T) {
	t.Parallel()
	out := mustRun(t, "bench", "--workload", "all", "--jobs", "100", "--concurrency", "10", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("bench --json printed %d lines, want one per workload:\n%s", len(lines), out)
	}
	for i, want := range []string{"w1", "w2", "w3"} {
		var res map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &res); err != nil {
			t.Fatalf("line %d is not JSON: %q", i+1, lines[i])
		}
		if res["workload"] != want || res["store"] != "sqlite" || res["jobs"] != 100.0 || res["concurrency"] != 10.0 {
			t.Errorf("line %d = %s, want workload %s on sqlite, 100 jobs, concurrency 10", i+1, lines[i], want)
		}
		p50, _ := res["latency_p50_ms"].(float64)
		p99, _ := res["latency_p99_ms"].(float64)
		if p50 <= 0 || p50 > p99 {
			t.Errorf("%s latency p50 %v, p99 %v: want 0 < p50 <= p99", want, p50, p99)
		}
	}
}

func TestBenchOnSharedStoreCleansUp(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	mustRun(t, "enqueue", "--store", url, "noop")
	out := mustRun(t, "bench", "--store", url, "--workload", "w2", "--jobs", "50", "--concurrency", "10")
	for _, want := range []string{"store: " + url, "WORKLOAD", "w2", "50", "Latency is enqueue to start"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench table lacks %q:\n%s", want, out)
		}
	}
	var got struct {
		Queues []*store.QueueStat `json:"queues"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "stats", "--store", url, "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Queues) != 1 || got.Queues[0].Name != "default" || got.Queues[0].Counts[store.StateAvailable] != 1 {
		t.Fatalf("after bench the store's queues are %+v, want only the user's default queue with its job", got.Queues)
	}
}

func TestBenchBadFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--workload", "w7"}, `--workload: unknown workload "w7"`},
		{[]string{"--jobs", "-1"}, "--jobs is -1"},
		{[]string{"--concurrency", "0"}, "--concurrency is 0"},
		{[]string{"--workload", "http", "--duration", "0s"}, "--duration is 0s"},
		{[]string{"--workload", "http", "--clients", "0"}, "--clients is 0"},
	} {
		_, _, err := runCmd(t, "", append([]string{"bench"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("bench %q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestBenchHTTPShort runs the http workload for a second: boiler serve's
// handler on the loopback interface, a worker beside it, and a table with
// its figures. (The real run is 20 s: boiler bench --workload http.)
func TestBenchHTTPShort(t *testing.T) {
	t.Parallel()
	out := mustRun(t, "bench", "--workload", "http", "--duration", "1s", "--clients", "4", "--concurrency", "10", "--json")
	var res map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil {
		t.Fatalf("bench --workload http --json printed %q: %v", out, err)
	}
	accepted, _ := res["jobs"].(float64)
	if res["workload"] != "http" || res["clients"] != 4.0 || accepted <= 0 || res["errors"] != nil || res["accepted_per_sec"] == nil ||
		res["request_p99_ms"] == nil || res["cpu_per_job_us"] == nil || res["done_after_load_ms"] == nil || res["idle_rss_bytes"] == nil || res["peak_rss_bytes"] == nil {
		t.Errorf("http result %s: want 4 clients, accepted jobs, no errors, rates, latencies and RSS", out)
	}
	if load, _ := res["load_s"].(float64); load < 1 {
		t.Errorf("load_s %v, want at least the 1 s asked", res["load_s"])
	}

	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	table := mustRun(t, "bench", "--workload", "http", "--duration", "1s", "--clients", "2", "--cpuprofile", profile)
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("--cpuprofile wrote no profile: %v", err)
	}
	for _, want := range []string{"ACCEPTED/s", "REQ P99", "ALL DONE AFTER", "CPU/JOB", "IDLE RSS", "PEAK RSS", "Targets (issue 6)"} {
		if !strings.Contains(table, want) {
			t.Errorf("the http table lacks %q:\n%s", want, table)
		}
	}
}
