package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/store"
)

// lifecycle runs the job routes end to end on b: enqueue, get, list,
// retry a discarded job, 409 on a running one, cancel, delete, 404.
func lifecycle(t *testing.T, b *bundle) {
	r := b.do("POST", "/api/jobs", `{"kind":"email","args":{"to":"ada@example.com"},"queue":"mail","priority":3,"max_attempts":1,"timeout_ms":1500}`).want(t, 201)
	job, dup := enqueued(t, r)
	if dup || job.Kind != "email" || job.Queue != "mail" || job.Priority != 3 || job.MaxAttempts != 1 ||
		job.Timeout != 1500*time.Millisecond || job.State != store.StateAvailable || string(job.Args) != `{"to":"ada@example.com"}` {
		t.Fatalf("enqueued %+v", job)
	}

	got := jobOf(t, b.do("GET", fmt.Sprintf("/api/jobs/%d", job.ID), "").want(t, 200))
	if got.ID != job.ID || string(got.Args) != string(job.Args) || !got.EnqueuedAt.Equal(b.clock.Now()) {
		t.Fatalf("GET returned %+v, want %+v", got, job)
	}

	// Running: retry and delete are 409, cancel asks the worker.
	running := b.fetch("mail")
	if running.ID != job.ID {
		t.Fatalf("fetched %d, want %d", running.ID, job.ID)
	}
	for _, req := range [][2]string{{"POST", "/retry"}, {"DELETE", ""}} {
		r := b.do(req[0], fmt.Sprintf("/api/jobs/%d%s", job.ID, req[1]), "").want(t, http.StatusConflict)
		if msg := r.ErrorMessage(t); !strings.Contains(msg, "running") {
			t.Errorf("%s: message %q does not say the job is running", req, msg)
		}
	}

	// Discarded (out of attempts), then retried: available again with
	// its error kept.
	b.finish(running, store.StateDiscarded, "smtp: connection refused")
	got = jobOf(t, b.do("GET", fmt.Sprintf("/api/jobs/%d", job.ID), "").want(t, 200))
	if got.State != store.StateDiscarded || len(got.Errors) != 1 || got.Errors[0].Error != "smtp: connection refused" {
		t.Fatalf("after the failed attempt: %+v", got)
	}
	got = jobOf(t, b.do("POST", fmt.Sprintf("/api/jobs/%d/retry", job.ID), "").want(t, 200))
	if got.State != store.StateAvailable || got.MaxAttempts != 2 || len(got.Errors) != 1 {
		t.Fatalf("after retry: %+v, want available with one more attempt and the error kept", got)
	}

	got = jobOf(t, b.do("POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), "").want(t, 200))
	if got.State != store.StateCancelled {
		t.Fatalf("after cancel: state %s", got.State)
	}
	got = jobOf(t, b.do("DELETE", fmt.Sprintf("/api/jobs/%d", job.ID), "").want(t, 200))
	if got.ID != job.ID || got.State != store.StateCancelled {
		t.Fatalf("DELETE returned %+v, want the job as it was", got)
	}
	for _, req := range [][2]string{{"GET", ""}, {"POST", "/retry"}, {"POST", "/cancel"}, {"DELETE", ""}} {
		r := b.do(req[0], fmt.Sprintf("/api/jobs/%d%s", job.ID, req[1]), "").want(t, http.StatusNotFound)
		if msg := r.ErrorMessage(t); !strings.Contains(msg, fmt.Sprint(job.ID)) {
			t.Errorf("%s: 404 message %q does not name the job", req, msg)
		}
	}
}

func TestJobLifecycleSQLite(t *testing.T) {
	t.Parallel()
	lifecycle(t, setup(t, nil))
}

func TestJobLifecyclePostgres(t *testing.T) {
	t.Parallel()
	lifecycle(t, setupOn(t, openPostgres(t), nil))
}

func TestCancelRunningJobAsksItsWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	job, _ := enqueued(t, b.do("POST", "/api/jobs", `{"kind":"slow"}`).want(t, 201))
	b.fetch("default")
	got := jobOf(t, b.do("POST", fmt.Sprintf("/api/jobs/%d/cancel", job.ID), "").want(t, 200))
	if got.State != store.StateRunning || !got.CancelRequested {
		t.Fatalf("cancel of a running job: %+v, want running with cancel_requested", got)
	}
}

func TestEnqueueDefaultsAndDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	// An unknown kind is accepted: another process may handle it.
	job, _ := enqueued(t, b.do("POST", "/api/jobs", `{"kind":"known.elsewhere"}`).want(t, 201))
	if job.Queue != "default" || job.MaxAttempts != 25 || string(job.Args) != "{}" {
		t.Fatalf("defaults: %+v", job)
	}
	body := `{"kind":"report","args":[1,2],"unique_key":"report-7","run_in_ms":60000}`
	first, dup := enqueued(t, b.do("POST", "/api/jobs", body).want(t, 201))
	if dup || first.State != store.StateScheduled || !first.RunAt.Equal(b.clock.Now().Add(time.Minute)) {
		t.Fatalf("first: %+v", first)
	}
	second, dup := enqueued(t, b.do("POST", "/api/jobs", body).want(t, 200))
	if !dup || second.ID != first.ID {
		t.Fatalf("second enqueue: duplicate %v id %d, want the first job %d", dup, second.ID, first.ID)
	}
	at := b.clock.Now().Add(time.Hour)
	job, _ = enqueued(t, b.do("POST", "/api/jobs", `{"kind":"k","run_at":"`+at.Format(time.RFC3339)+`"}`).want(t, 201))
	if !job.RunAt.Equal(at) {
		t.Fatalf("run_at: %s, want %s", job.RunAt, at)
	}
}

func TestEnqueueBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var res struct {
		Results []struct {
			Job       *store.Job `json:"job"`
			Duplicate bool       `json:"duplicate"`
		} `json:"results"`
	}
	b.do("POST", "/api/jobs/batch", `{"jobs":[{"kind":"a","args":{"i":1}},{"kind":"b","queue":"low"},{"kind":"a","args":{"i":3}}]}`).want(t, 201).Decode(t, &res)
	if len(res.Results) != 3 {
		t.Fatalf("%d results, want 3", len(res.Results))
	}
	ids := map[int64]bool{}
	for i, want := range []struct{ kind, queue, args string }{{"a", "default", `{"i":1}`}, {"b", "low", `{}`}, {"a", "default", `{"i":3}`}} {
		j := res.Results[i].Job
		if j.Kind != want.kind || j.Queue != want.queue || string(j.Args) != want.args {
			t.Errorf("result %d: %+v, want %+v", i, j, want)
		}
		ids[j.ID] = true
	}
	if len(ids) != 3 {
		t.Errorf("ids %v are not distinct", ids)
	}

	// One bad job: none is inserted, and the message names it.
	r := b.do("POST", "/api/jobs/batch", `{"jobs":[{"kind":"a"},{"kind":"a","queue":"no spaces"}]}`).want(t, 400)
	if msg := r.ErrorMessage(t); !strings.Contains(msg, "jobs[1].queue") {
		t.Errorf("message %q does not name jobs[1].queue", msg)
	}
	var list struct{ Jobs []*store.Job }
	b.do("GET", "/api/jobs", "").want(t, 200).Decode(t, &list)
	if len(list.Jobs) != 3 {
		t.Errorf("%d jobs after the refused batch, want the 3 of the first", len(list.Jobs))
	}
	b.do("POST", "/api/jobs/batch", `{"jobs":[]}`).want(t, 400)
}

func TestListPagesWithACursorAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var jobs []string
	for i := range 7 {
		jobs = append(jobs, fmt.Sprintf(`{"kind":"k%d","args":{"i":%d}}`, i%2, i))
	}
	jobs = append(jobs, `{"kind":"k0","queue":"other"}`)
	b.do("POST", "/api/jobs/batch", `{"jobs":[`+strings.Join(jobs, ",")+`]}`).want(t, 201)

	var seen []int64
	cursor := int64(0)
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 3 for 8 jobs")
		}
		var page struct {
			Jobs       []*store.Job `json:"jobs"`
			NextCursor int64        `json:"next_cursor"`
		}
		b.do("GET", fmt.Sprintf("/api/jobs?limit=3&cursor=%d", cursor), "").want(t, 200).Decode(t, &page)
		for _, j := range page.Jobs {
			seen = append(seen, j.ID)
		}
		if page.NextCursor == 0 {
			break
		}
		if len(page.Jobs) != 3 {
			t.Fatalf("a page with a next cursor has %d jobs", len(page.Jobs))
		}
		cursor = page.NextCursor
	}
	if len(seen) != 8 {
		t.Fatalf("paged through %d jobs, want 8: %v", len(seen), seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("ids not strictly newest first: %v", seen)
		}
	}

	count := func(query string) int {
		var page struct{ Jobs []*store.Job }
		b.do("GET", "/api/jobs?"+query, "").want(t, 200).Decode(t, &page)
		return len(page.Jobs)
	}
	if n := count("queue=other"); n != 1 {
		t.Errorf("queue=other: %d jobs, want 1", n)
	}
	if n := count("kind=k1"); n != 3 {
		t.Errorf("kind=k1: %d jobs, want 3", n)
	}
	b.fetch("default")
	if n := count("state=running,completed"); n != 1 {
		t.Errorf("state=running,completed: %d jobs, want 1", n)
	}
	for _, bad := range []string{"state=sleeping", "limit=0", "limit=501", "cursor=-1", "cursor=x"} {
		field := strings.SplitN(bad, "=", 2)[0]
		r := b.do("GET", "/api/jobs?"+bad, "").want(t, 400)
		if msg := r.ErrorMessage(t); !strings.Contains(msg, field) {
			t.Errorf("%s: message %q does not name %s", bad, msg, field)
		}
	}
}

func TestBadRequestsAreClearErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     []string
	}{
		{"syntax error", "POST", "/api/jobs", `{"kind":"x","args":{oops}}`, nil, 400, []string{"invalid JSON at offset 20", "line 1, column 21"}},
		{"syntax error on line 2", "POST", "/api/jobs", "{\"kind\":\"x\",\n \"args\": [1,]}", nil, 400, []string{"line 2, column 13"}},
		{"truncated", "POST", "/api/jobs", `{"kind":"x"`, nil, 400, []string{"ends early"}},
		{"wrong type", "POST", "/api/jobs", `{"kind":5}`, nil, 400, []string{"kind must be a string", "offset"}},
		{"wrong type nested", "POST", "/api/jobs/batch", `{"jobs":[{"kind":"a","priority":"high"}]}`, nil, 400, []string{"priority must be a number"}},
		{"unknown field", "POST", "/api/jobs", `{"kind":"x","queueu":"q"}`, nil, 400, []string{`unknown field "queueu"`}},
		{"trailing data", "POST", "/api/jobs", `{"kind":"x"} {}`, nil, 400, []string{"after the JSON object"}},
		{"empty body", "POST", "/api/jobs", ``, []string{"Content-Type", "application/json"}, 400, []string{"empty"}},
		{"no kind", "POST", "/api/jobs", `{"args":{}}`, nil, 400, []string{"kind: is required"}},
		{"bad queue", "POST", "/api/jobs", `{"kind":"x","queue":"a/b"}`, nil, 400, []string{"queue", `'/'`}},
		{"negative", "POST", "/api/jobs", `{"kind":"x","max_attempts":-1}`, nil, 400, []string{"max_attempts", "negative"}},
		{"bad run_at", "POST", "/api/jobs", `{"kind":"x","run_at":"tomorrow"}`, nil, 400, []string{"run_at", "RFC 3339"}},
		{"not JSON", "POST", "/api/jobs", ``, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, []string{"application/json"}},
		{"bad id", "GET", "/api/jobs/abc", ``, nil, 400, []string{`"abc"`}},
		{"bad queue path", "POST", "/api/queues/a%20b/pause", ``, nil, 400, []string{"queue name"}},
		{"unknown route", "GET", "/api/nothing", ``, nil, 404, []string{"/api/nothing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := b.do(tc.method, tc.path, tc.body, tc.hdr...).want(t, tc.status)
			msg := r.ErrorMessage(t)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestBodyTooLargeIs413(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	big := `{"kind":"x","args":"` + strings.Repeat("a", 1<<20) + `"}`
	r := b.do("POST", "/api/jobs", big).want(t, http.StatusRequestEntityTooLarge)
	if msg := r.ErrorMessage(t); !strings.Contains(msg, "1048576") {
		t.Errorf("message %q does not give the limit", msg)
	}
	// The batch route takes more.
	b.do("POST", "/api/jobs/batch", `{"jobs":[`+big+`]}`).want(t, 201)
}

// TestWorkflowJobsFilterAndDependencies lists a workflow's jobs with
// ?workflow=, finds the waiting one with ?state=waiting, and shows the
// states of its dependencies in its detail (a deleted one as gone).
func TestWorkflowJobsFilterAndDependencies(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	now := b.clock.Now()
	job := func(i int, after ...int) *store.JobInsertParams {
		return &store.JobInsertParams{Kind: "step", Queue: "wf", Args: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
			MaxAttempts: 3, RunAt: now, Workflow: "wf-1", After: after}
	}
	res, err := b.store.JobInsertMany(context.Background(), &store.JobInsertManyParams{Now: now, Jobs: []*store.JobInsertParams{
		job(0), job(1), job(2, 0, 1),
	}})
	must(t, "JobInsertMany with After", err)
	b.do("POST", "/api/jobs", `{"kind":"other","queue":"wf"}`).want(t, 201)
	a, c, callback := res[0].Job, res[1].Job, res[2].Job

	var list struct{ Jobs []*store.Job }
	b.do("GET", "/api/jobs?workflow=wf-1", "").want(t, 200).Decode(t, &list)
	if len(list.Jobs) != 3 || list.Jobs[0].ID != callback.ID || list.Jobs[0].Workflow != "wf-1" {
		t.Errorf("?workflow=wf-1 listed %d jobs (first %+v), want the workflow's 3, newest first", len(list.Jobs), list.Jobs[0])
	}
	b.do("GET", "/api/jobs?state=waiting", "").want(t, 200).Decode(t, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != callback.ID || list.Jobs[0].DepsLeft != 2 {
		t.Errorf("?state=waiting listed %+v, want the callback with 2 deps left", list.Jobs)
	}
	var q struct{ Queues []httpapi.Queue }
	b.do("GET", "/api/queues", "").want(t, 200).Decode(t, &q)
	if len(q.Queues) != 1 || q.Queues[0].Counts[store.StateWaiting] != 1 || q.Queues[0].Counts[store.StateAvailable] != 3 {
		t.Errorf("queues %+v, want wf with 1 waiting and 3 available", q.Queues)
	}

	// The first step completes; the second is deleted, which cancels
	// the callback (it runs only if every step completes).
	b.finish(b.fetch("wf"), store.StateCompleted, "")
	var detail struct {
		store.Job
		DepStates []struct {
			ID    int64
			Kind  string
			State store.State
			Gone  bool
		} `json:"dep_states"`
	}
	b.do("GET", fmt.Sprintf("/api/jobs/%d", callback.ID), "").want(t, 200).Decode(t, &detail)
	if detail.Workflow != "wf-1" || len(detail.Deps) != 2 || detail.Deps[0] != a.ID || detail.DepsLeft != 1 || detail.State != store.StateWaiting {
		t.Errorf("callback %+v: want workflow wf-1, deps [%d %d], 1 left, waiting", detail.Job, a.ID, c.ID)
	}
	if len(detail.DepStates) != 2 || detail.DepStates[0].State != store.StateCompleted || detail.DepStates[0].Kind != "step" ||
		detail.DepStates[1].ID != c.ID || detail.DepStates[1].State != store.StateAvailable {
		t.Errorf("dep states %+v: want the first completed, the second available", detail.DepStates)
	}
	b.do("DELETE", fmt.Sprintf("/api/jobs/%d", c.ID), "").want(t, 200)
	detail.DepStates = nil // decode afresh
	b.do("GET", fmt.Sprintf("/api/jobs/%d", callback.ID), "").want(t, 200).Decode(t, &detail)
	if detail.State != store.StateCancelled || len(detail.DepStates) != 2 || !detail.DepStates[1].Gone || detail.DepStates[1].State != "" {
		t.Errorf("after deleting a step the callback is %s with deps %+v: want cancelled, the second gone", detail.State, detail.DepStates)
	}
}
