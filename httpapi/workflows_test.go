package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/httpapi"
	"github.com/doubleboiler/boiler/store"
)

// workflowCreated is POST /api/workflows's answer.
type workflowCreated struct {
	ID         string  `json:"id"`
	JobIDs     []int64 `json:"job_ids"`
	CallbackID int64   `json:"callback_id"`
}

func createWorkflow(t *testing.T, b *bundle, body string) workflowCreated {
	t.Helper()
	var wf workflowCreated
	b.do("POST", "/api/workflows", body).want(t, http.StatusCreated).Decode(t, &wf)
	if !strings.HasPrefix(wf.ID, "wf_") {
		t.Fatalf("workflow id %q in %+v", wf.ID, wf)
	}
	return wf
}

func getWorkflow(t *testing.T, b *bundle, id string) *boiler.WorkflowStatus {
	t.Helper()
	var st boiler.WorkflowStatus
	b.do("GET", "/api/workflows/"+id, "").want(t, http.StatusOK).Decode(t, &st)
	return &st
}

// chainFailure enqueues a chain through the API on b, fails its first
// link and sees the rest cancelled in the workflow's status.
func chainFailure(t *testing.T, b *bundle) {
	wf := createWorkflow(t, b, `{"type":"chain","jobs":[
		{"kind":"fetch","args":{"url":"u"},"queue":"flow","max_attempts":1},
		{"kind":"resize","queue":"flow","priority":2},
		{"kind":"upload","queue":"flow"}]}`)
	if len(wf.JobIDs) != 3 || wf.CallbackID != 0 {
		t.Fatalf("created %+v", wf)
	}
	st := getWorkflow(t, b, wf.ID)
	if st.ID != wf.ID || st.State != boiler.WorkflowRunning || st.Total != 3 ||
		st.Counts[store.StateAvailable] != 1 || st.Counts[store.StateWaiting] != 2 || st.Counts[store.StateCompleted] != 0 {
		t.Fatalf("status %s total %d counts %v", st.State, st.Total, st.Counts)
	}
	for i, j := range st.Jobs {
		if j.ID != wf.JobIDs[i] || j.Workflow != wf.ID {
			t.Fatalf("job %d: id %d workflow %q, want %d %q", i, j.ID, j.Workflow, wf.JobIDs[i], wf.ID)
		}
		if i > 0 && !slices.Equal(j.Deps, []int64{wf.JobIDs[i-1]}) {
			t.Errorf("link %d: deps %v", i, j.Deps)
		}
	}
	if st.Jobs[1].Priority != 2 || string(st.Jobs[0].Args) != `{"url":"u"}` {
		t.Errorf("options lost: %+v", st.Jobs[1])
	}

	first := b.fetch("flow")
	if first.ID != wf.JobIDs[0] {
		t.Fatalf("fetched %d, want the first link %d (the others wait)", first.ID, wf.JobIDs[0])
	}
	b.finish(first, store.StateDiscarded, "fetch: 404")
	st = getWorkflow(t, b, wf.ID)
	if st.State != boiler.WorkflowFailed || st.Counts[store.StateDiscarded] != 1 || st.Counts[store.StateCancelled] != 2 {
		t.Fatalf("after the first link failed: %s %v", st.State, st.Counts)
	}
	if e := st.Jobs[1].Errors; len(e) != 1 || !strings.Contains(e[0].Error, fmt.Sprint(first.ID)) {
		t.Fatalf("the second link's error %+v does not name the failed link %d", e, first.ID)
	}
}

func TestWorkflowChainSQLite(t *testing.T) {
	t.Parallel()
	chainFailure(t, setup(t, nil))
}

func TestWorkflowChainPostgres(t *testing.T) {
	t.Parallel()
	chainFailure(t, setupOn(t, openPostgres(t), nil))
}

func TestWorkflowGroupAndChord(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)

	wf := createWorkflow(t, b, `{"type":"group","jobs":[{"kind":"a","queue":"g"},{"kind":"b","queue":"g"}]}`)
	st := getWorkflow(t, b, wf.ID)
	if len(wf.JobIDs) != 2 || st.Counts[store.StateAvailable] != 2 {
		t.Fatalf("group %+v: %v", wf, st.Counts)
	}
	for _, id := range wf.JobIDs {
		b.finish(b.fetch("g"), store.StateCompleted, "")
		_ = id
	}
	if st := getWorkflow(t, b, wf.ID); st.State != boiler.WorkflowCompleted || st.Counts[store.StateCompleted] != 2 {
		t.Fatalf("group done: %s %v", st.State, st.Counts)
	}

	wf = createWorkflow(t, b, `{"type":"chord","jobs":[{"kind":"m","queue":"c"},{"kind":"m","queue":"c"},{"kind":"m","queue":"c"}],
		"callback":{"kind":"cb","queue":"cbq","args":{"to":"ops"}},"run_on_failure":true}`)
	if len(wf.JobIDs) != 3 || wf.CallbackID == 0 {
		t.Fatalf("chord %+v", wf)
	}
	cb := jobOf(t, b.do("GET", fmt.Sprintf("/api/jobs/%d", wf.CallbackID), "").want(t, 200))
	if cb.State != store.StateWaiting || !cb.RunOnFailure || !slices.Equal(cb.Deps, wf.JobIDs) || cb.DepsLeft != 3 || cb.Workflow != wf.ID {
		t.Fatalf("callback %+v", cb)
	}
	// With run_on_failure, a discarded member still lets the callback run.
	b.finish(b.fetch("c"), store.StateCompleted, "")
	b.finish(b.fetch("c"), store.StateDiscarded, "boom")
	b.finish(b.fetch("c"), store.StateCompleted, "")
	if got := b.fetch("cbq"); got.ID != wf.CallbackID || string(got.Args) != `{"to":"ops"}` {
		t.Fatalf("fetched %+v, want the callback", got)
	}
}

func TestWorkflowChunks(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	wf := createWorkflow(t, b, `{"type":"chunks","job":{"kind":"resize","queue":"img","max_attempts":3},
		"items":[1,{"id":2},"three",4,5],"chunk_size":2,"callback":{"kind":"report"}}`)
	if len(wf.JobIDs) != 3 || wf.CallbackID == 0 {
		t.Fatalf("chunks %+v", wf)
	}
	st := getWorkflow(t, b, wf.ID)
	for i, want := range []string{`{"items":[1,{"id":2}]}`, `{"items":["three",4]}`, `{"items":[5]}`} {
		j := st.Jobs[i]
		if j.Kind != "resize" || j.Queue != "img" || j.MaxAttempts != 3 || string(j.Args) != want {
			t.Errorf("chunk %d: %s %s %d %s, want args %s", i, j.Kind, j.Queue, j.MaxAttempts, j.Args, want)
		}
	}
	if cb := st.Jobs[3]; cb.Kind != "report" || !slices.Equal(cb.Deps, wf.JobIDs) || cb.RunOnFailure {
		t.Fatalf("callback %+v", cb)
	}
	// Without a callback, chunks are a plain group.
	wf = createWorkflow(t, b, `{"type":"chunks","job":{"kind":"resize"},"items":[1,2,3],"chunk_size":5}`)
	if len(wf.JobIDs) != 1 || wf.CallbackID != 0 {
		t.Fatalf("one chunk: %+v", wf)
	}
}

func TestWorkflowBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	job := `{"kind":"k"}`
	for _, tc := range []struct{ body, want string }{
		{`{"type":"chain","jobs":[`, "JSON ends early"},
		{`{"type":"chain","jobs":[}`, "invalid JSON"},
		{`{"type":"chain","jobs":{}}`, "jobs must be"},
		{`{"type":"chain","jobs":[{"kind":"k"}],"extra":1}`, `unknown field "extra"`},
		{`{"jobs":[` + job + `]}`, "type: is required"},
		{`{"type":"pipeline","jobs":[` + job + `]}`, `type: "pipeline" is not a workflow type`},
		{`{"type":"chain"}`, "jobs: the list is empty"},
		{`{"type":"group","jobs":[]}`, "jobs: the list is empty"},
		{`{"type":"chain","jobs":[` + job + `,{"queue":"q"}]}`, "jobs[1].kind: is required"},
		{`{"type":"chain","jobs":[{"kind":"k","queue":"bad queue"}]}`, "jobs[0].queue:"},
		{`{"type":"chain","jobs":[{"kind":"k","unique_key":"u"}]}`, "jobs[0].unique_key: unique keys are not supported in workflows"},
		{`{"type":"chord","jobs":[` + job + `]}`, "callback: is required for a chord"},
		{`{"type":"chord","jobs":[` + job + `],"callback":{"kind":""}}`, "callback.kind: is required"},
		{`{"type":"group","jobs":[` + job + `],"callback":` + job + `}`, "callback: is for types chord and chunks"},
		{`{"type":"group","jobs":[` + job + `],"run_on_failure":true}`, "run_on_failure: applies to the callback"},
		{`{"type":"chain","jobs":[` + job + `],"chunk_size":2}`, "chunk_size: is for type chunks"},
		{`{"type":"chain","jobs":[` + job + `],"items":[1]}`, "items: is for type chunks"},
		{`{"type":"chunks","jobs":[` + job + `],"items":[1],"chunk_size":1}`, "jobs: a chunks workflow takes job"},
		{`{"type":"chunks","items":[1],"chunk_size":1}`, "job: is required"},
		{`{"type":"chunks","job":{"kind":"k","args":{"a":1}},"items":[1],"chunk_size":1}`, "job.args: must be empty"},
		{`{"type":"chunks","job":` + job + `,"items":[],"chunk_size":1}`, "items: the list is empty"},
		{`{"type":"chunks","job":` + job + `,"items":[1]}`, "chunk_size: must be at least 1, got 0"},
		{`{"type":"chunks","job":{"kind":"k","max_attempts":-1},"items":[1],"chunk_size":1}`, "job.max_attempts: must not be negative"},
		{`{"type":"chunks","job":` + job + `,"items":[` + strings.Repeat("1,", 10_001) + `1],"chunk_size":1}`, "chunk_size: 10002 items in chunks of 1 make 10002 jobs, more than 10000"},
	} {
		r := b.do("POST", "/api/workflows", tc.body).want(t, http.StatusBadRequest)
		if msg := r.ErrorMessage(t); !strings.Contains(msg, tc.want) {
			t.Errorf("%.80s: message %q, want %q", tc.body, msg, tc.want)
		}
	}
	jobs := `{"type":"group","jobs":[` + strings.Repeat(job+",", 10_000) + job + `]}`
	if msg := b.do("POST", "/api/workflows", jobs).want(t, http.StatusBadRequest).ErrorMessage(t); !strings.Contains(msg, "jobs: 10001 jobs, more than 10000") {
		t.Errorf("too many jobs: %q", msg)
	}
	if list, _ := b.client.JobList(t.Context(), nil); len(list) != 0 {
		t.Fatalf("bad requests inserted %d jobs", len(list))
	}
	r := b.do("POST", "/api/workflows", `{"type":"group","jobs":[`+strings.Repeat(`{"kind":"`+strings.Repeat("k", 250)+`"},`, 70_000)+job+`]}`)
	r.want(t, http.StatusRequestEntityTooLarge)
	r = b.do("POST", "/api/workflows", "type=chain", "Content-Type", "application/x-www-form-urlencoded")
	r.want(t, http.StatusUnsupportedMediaType)
}

func TestWorkflowGetErrors(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	r := b.do("GET", "/api/workflows/wf_missing", "").want(t, http.StatusNotFound)
	if msg := r.ErrorMessage(t); !strings.Contains(msg, "wf_missing") {
		t.Errorf("404 message %q does not name the workflow", msg)
	}
	r = b.do("GET", "/api/workflows/"+strings.Repeat("x", 201), "").want(t, http.StatusBadRequest)
	if msg := r.ErrorMessage(t); !strings.Contains(msg, "workflow id") {
		t.Errorf("400 message %q", msg)
	}
}

func TestWorkflowRoutesNeedAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, &httpapi.Options{Token: "s3cret"})
	body := `{"type":"group","jobs":[{"kind":"k"}]}`
	b.do("POST", "/api/workflows", body).want(t, http.StatusUnauthorized)
	b.do("GET", "/api/workflows/wf_x", "").want(t, http.StatusUnauthorized)
	wf := workflowCreated{}
	b.do("POST", "/api/workflows", body, "Authorization", "Bearer s3cret").want(t, http.StatusCreated).Decode(t, &wf)
	b.do("GET", "/api/workflows/"+wf.ID, "", "Authorization", "Bearer s3cret").want(t, http.StatusOK)
}

// FuzzWorkflowCreate posts arbitrary bodies to POST /api/workflows: the
// answer is 201 with a workflow, or a client error in the API's error
// shape; never a 5xx, never a panic.
func FuzzWorkflowCreate(f *testing.F) {
	for _, seed := range []string{
		`{"type":"chain","jobs":[{"kind":"a"},{"kind":"b","queue":"q","priority":-1}]}`,
		`{"type":"group","jobs":[{"kind":"a","args":[1,2]}]}`,
		`{"type":"chord","jobs":[{"kind":"a"}],"callback":{"kind":"cb"},"run_on_failure":true}`,
		`{"type":"chunks","job":{"kind":"k"},"items":[1,"2",{"3":3}],"chunk_size":2}`,
		`{"type":"chunks","job":{"kind":"k","args":null},"items":[null],"chunk_size":1,"callback":{"kind":"c"}}`,
		`{"type":"chord","jobs":[{"kind":"a","run_at":"2026-01-02T15:04:05Z","run_in_ms":5}],"callback":{"kind":""}}`,
		`{"type":"chunks","job":{"kind":"k"},"items":[1],"chunk_size":-3}`,
		`{"type":"chain","jobs":[{"kind":"a","max_attempts":-1}]}`,
		`{"type":"","jobs":null}`, `[]`, `null`, `{`, ``,
	} {
		f.Add(seed)
	}
	b := &bundle{store: openSQLite(f), clock: newClock()}
	var err error
	if b.client, err = boiler.NewClient(b.store, &boiler.ClientOptions{Clock: b.clock.Now}); err != nil {
		f.Fatal(err)
	}
	if b.handler, err = httpapi.New(&httpapi.Options{Client: b.client, Clock: b.clock.Now, Secret: []byte("s")}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b.t = t
		r := b.do("POST", "/api/workflows", body)
		switch {
		case r.Status == http.StatusCreated:
			var wf workflowCreated
			r.Decode(t, &wf)
			if !strings.HasPrefix(wf.ID, "wf_") || len(wf.JobIDs) == 0 {
				t.Fatalf("201 without a workflow: %s", r.Body)
			}
		case r.Status >= 400 && r.Status < 500:
			r.ErrorMessage(t)
		default:
			t.Fatalf("status %d for %q: %s", r.Status, body, r.Body)
		}
	})
}
