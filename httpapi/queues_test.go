package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/autoscale"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/store"
)

func TestQueuesPauseResumeAndJobsPerSecond(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var batch []string
	for i := range 10 {
		batch = append(batch, fmt.Sprintf(`{"kind":"k","queue":"mail","args":{"i":%d}}`, i))
	}
	b.do("POST", "/api/jobs/batch", `{"jobs":[`+strings.Join(batch, ",")+`]}`).want(t, 201)

	queues := func() map[string]httpapi.Queue {
		var v struct{ Queues []httpapi.Queue }
		b.do("GET", "/api/queues", "").want(t, 200).Decode(t, &v)
		out := map[string]httpapi.Queue{}
		for _, q := range v.Queues {
			out[q.Name] = q
		}
		return out
	}
	q := queues()["mail"]
	if q.Counts[store.StateAvailable] != 10 || q.JobsPerSecond != 0 || len(q.Counts) != len(store.States) {
		t.Fatalf("mail before work: %+v", q)
	}

	// 6 completions over 3 s of the clock: 2 jobs/s. The oldest waiting
	// job has waited those 3 s.
	for range 6 {
		b.finish(b.fetch("mail"), store.StateCompleted, "")
	}
	b.clock.Advance(3 * time.Second)
	q = queues()["mail"]
	if q.JobsPerSecond != 2 || q.Counts[store.StateCompleted] != 6 || q.OldestAvailableAgeMS != 3000 {
		t.Fatalf("mail after 6 completions in 3s: %+v, want 2 jobs/s, waiting 3000 ms", q)
	}

	var paused httpapi.Queue
	b.do("POST", "/api/queues/mail/pause", "").want(t, 200).Decode(t, &paused)
	if !paused.Paused || paused.Name != "mail" || paused.Counts[store.StateAvailable] != 4 {
		t.Fatalf("pause returned %+v", paused)
	}
	if !queues()["mail"].Paused {
		t.Fatal("GET /api/queues does not show mail paused")
	}
	var resumed httpapi.Queue
	b.do("POST", "/api/queues/mail/resume", "").want(t, 200).Decode(t, &resumed)
	if resumed.Paused || queues()["mail"].Paused {
		t.Fatalf("resume returned %+v", resumed)
	}
	// Pausing a queue without jobs is fine, and lists it.
	b.do("POST", "/api/queues/empty/pause", "").want(t, 200)
	if !queues()["empty"].Paused {
		t.Fatal("paused empty queue not listed")
	}
}

func TestWorkersProcessesDecisionsHealthz(t *testing.T) {
	t.Parallel()
	var b *bundle
	b = setup(t, &httpapi.Options{
		Processes: func(context.Context) ([]httpapi.Process, error) {
			return []httpapi.Process{
				{Name: "web.1", Type: "web", State: "running", PID: 42, StartedAt: b.clock.Now().Add(-90 * time.Second), Restarts: 1, RSSBytes: 20 << 20},
				{Name: "worker.1", Type: "worker", State: "crashed", StartedAt: b.clock.Now().Add(-time.Hour)},
			}, nil
		},
		Decisions: func() []autoscale.Decision {
			return []autoscale.Decision{{Current: 1, Desired: 3, Action: autoscale.ActionUp, Reason: "backlog 300"}}
		},
	})
	var w struct {
		Workers []any
		Note    string
	}
	b.do("GET", "/api/workers", "").want(t, 200).Decode(t, &w)
	if w.Workers == nil || len(w.Workers) != 0 {
		t.Errorf("workers: %+v, want an empty list (no worker beat)", w)
	}
	var p struct{ Processes []httpapi.Process }
	b.do("GET", "/api/processes", "").want(t, 200).Decode(t, &p)
	if len(p.Processes) != 2 || p.Processes[0].UptimeMS != 90_000 || p.Processes[0].RSSBytes != 20<<20 || p.Processes[1].UptimeMS != 0 {
		t.Errorf("processes: %+v, want web.1 up 90000 ms and the crashed one at 0", p.Processes)
	}
	var d struct{ Decisions []autoscale.Decision }
	b.do("GET", "/api/autoscale/decisions", "").want(t, 200).Decode(t, &d)
	if len(d.Decisions) != 1 || d.Decisions[0].Reason != "backlog 300" {
		t.Errorf("decisions: %+v", d)
	}
	if h := b.do("GET", "/healthz", "").want(t, 200).JSON(t); h["ok"] != true {
		t.Errorf("healthz: %v", h)
	}

	// Without a supervisor or an autoscaler: empty lists with a note.
	bare := setup(t, nil)
	for _, path := range []string{"/api/processes", "/api/autoscale/decisions"} {
		v := bare.do("GET", path, "").want(t, 200).JSON(t)
		if v["note"] == "" || v["note"] == nil {
			t.Errorf("%s without a source: %v, want a note", path, v)
		}
	}
}

func TestAFailingProcessListIs500(t *testing.T) {
	t.Parallel()
	b := setup(t, &httpapi.Options{Processes: func(context.Context) ([]httpapi.Process, error) {
		return nil, errors.New("supervisor stopped")
	}})
	r := b.do("GET", "/api/processes", "").want(t, 500)
	if msg := r.ErrorMessage(t); !strings.Contains(msg, "supervisor stopped") {
		t.Errorf("message %q", msg)
	}
}

// Deleting completed jobs lowers the completed count; the rate must not
// go negative.
func TestJobsPerSecondIgnoresDeletedCompletions(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.do("POST", "/api/jobs/batch", `{"jobs":[{"kind":"k"},{"kind":"k"},{"kind":"k"}]}`).want(t, 201)
	var ids []int64
	for range 2 {
		j := b.fetch("default")
		b.finish(j, store.StateCompleted, "")
		ids = append(ids, j.ID)
	}
	b.do("GET", "/api/queues", "").want(t, 200)
	for _, id := range ids {
		b.do("DELETE", fmt.Sprintf("/api/jobs/%d", id), "").want(t, 200)
	}
	b.clock.Advance(time.Second)
	var v struct{ Queues []httpapi.Queue }
	b.do("GET", "/api/queues", "").want(t, 200).Decode(t, &v)
	if len(v.Queues) != 1 || v.Queues[0].Counts[store.StateAvailable] != 1 {
		t.Fatalf("queues %+v, want default with its one waiting job", v.Queues)
	}
	if r := v.Queues[0].JobsPerSecond; r != 0 {
		t.Errorf("%v jobs/s after deletions, want 0", r)
	}
}
