package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// queueCounts reads queue's counts with `boiler stats --json`.
func queueCounts(t *testing.T, url, queue string) map[store.State]int64 {
	t.Helper()
	var got struct {
		Queues []*store.QueueStat `json:"queues"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, "stats", "--store", url, "--json")), &got); err != nil {
		t.Fatal(err)
	}
	for _, q := range got.Queues {
		if q.Name == queue {
			return q.Counts
		}
	}
	return nil
}

// waitCounts waits until ok accepts the queue's counts.
func waitCounts(t *testing.T, url, queue string, what string, ok func(map[store.State]int64) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		counts := queueCounts(t, url, queue)
		if ok(counts) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: queue %s counts %v after 30s", what, queue, counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startWorker runs `boiler work` from the built binary; it is killed at
// the test's end if still running.
func startWorker(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer, <-chan error) {
	t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(boilerBin, append([]string{"work"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})
	return cmd, out, done
}

// waitExit waits for the worker process to exit and fails unless it
// exited with status 0 within d.
func waitExit(t *testing.T, done <-chan error, out *lockedBuffer, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("boiler work exited with %v:\n%s", err, out)
		}
	case <-time.After(d):
		t.Fatalf("boiler work did not exit within %s of SIGTERM:\n%s", d, out)
	}
}

func TestWorkDrainsAndStopsOnSIGTERM(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	mustRun(t, "enqueue", "--store", url, "noop", "--count", "50")
	mustRun(t, "enqueue", "--store", url, "sleep", `{"ms": 20}`, "--count", "10", "--queue", "low")
	mustRun(t, "enqueue", "--store", url, "fail", `{"times": 5}`, "--max-attempts", "1", "--queue", "low")

	cmd, out, done := startWorker(t, "--store", url, "--queues", "default=3,low=1", "--concurrency", "8")
	waitCounts(t, url, "default", "50 noop jobs completed", func(c map[store.State]int64) bool {
		return c[store.StateCompleted] == 50
	})
	waitCounts(t, url, "low", "10 sleep jobs completed and 1 fail discarded", func(c map[store.State]int64) bool {
		return c[store.StateCompleted] == 10 && c[store.StateDiscarded] == 1
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, done, out, 10*time.Second)
	logs := out.String()
	for _, want := range []string{"msg=\"boiler work\"", "kinds=double,fail,noop,sleep,sum", "worker started", "worker stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the worker's logs lack %q:\n%s", want, logs)
		}
	}
}

func TestWorkReleasesRunningJobsAfterShutdownTimeout(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	mustRun(t, "enqueue", "--store", url, "sleep", `{"ms": 60000}`)
	cmd, out, done := startWorker(t, "--store", url, "--shutdown-timeout", "300ms")
	waitCounts(t, url, "default", "the sleep job to run", func(c map[store.State]int64) bool {
		return c[store.StateRunning] == 1
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitExit(t, done, out, 10*time.Second)
	// Released: available again at once, not left running until its lease
	// expires.
	if c := queueCounts(t, url, "default"); c[store.StateAvailable] != 1 || c[store.StateRunning] != 0 {
		t.Fatalf("after the shutdown the job's counts are %v, want it available again", c)
	}
}

func TestWorkBadFlags(t *testing.T) {
	t.Parallel()
	url := tempStore(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--queues", "high=x"}, `--queues: parsing queues "high=x"`},
		{[]string{"--concurrency", "0"}, "--concurrency is 0"},
		{[]string{"--shutdown-timeout", "0s"}, "--shutdown-timeout is 0s"},
	} {
		_, _, err := runCmd(t, "", append([]string{"work", "--store", url}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("work %q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

// TestWorkShutdownTimeoutUnderStart pins that a worker under boiler start
// stops before the supervisor's SIGKILL: without --shutdown-timeout it takes
// 4/5 of BOILER_STOP_TIMEOUT, which boiler start sets in its children.
func TestWorkShutdownTimeoutUnderStart(t *testing.T) {
	t.Parallel()
	env := func(v string) func(string) string {
		return func(string) string { return v }
	}
	for _, tc := range []struct {
		name    string
		flag    time.Duration
		flagSet bool
		env     string
		want    time.Duration
	}{
		{"default alone", 25 * time.Second, false, "", 25 * time.Second},
		{"under start", 25 * time.Second, false, "25s", 20 * time.Second},
		{"flag wins", 7 * time.Second, true, "25s", 7 * time.Second},
		{"bad env ignored", 25 * time.Second, false, "soon", 25 * time.Second},
	} {
		if got := workShutdownTimeout(tc.flag, tc.flagSet, env(tc.env)); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
}
