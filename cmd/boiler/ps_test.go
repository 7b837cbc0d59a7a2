package main

import (
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/supervisor"
)

func TestWritePs(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	err := writePs(&b, []supervisor.Process{
		{Name: "web.1", State: "running", PID: 42, Port: 5000, Started: now.Add(-90 * time.Second), RSS: 3 << 20, Command: "gunicorn app"},
		{Name: "worker.1", State: "crashed", Port: 5100, Restarts: 2, Command: "celery"},
	}, map[string]int{"worker": 1, "web": 1}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := "NAME      STATE    PID  PORT  UPTIME  RESTARTS  RSS   COMMAND\n" +
		"web.1     running  42   5000  1m30s   0         3.0M  gunicorn app\n" +
		"worker.1  crashed  -    5100  -       2         -     celery\n" +
		"formation: web=1 worker=1\n"
	if b.String() != want {
		t.Errorf("ps:\n%s\nwant:\n%s", b.String(), want)
	}
}
