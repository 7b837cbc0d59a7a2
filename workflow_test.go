package boiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/doubleboiler/boiler/store"
)

// Workflow test kinds.

// linkArgs is a chain link: it logs its name, and fails when Fail.
type linkArgs struct {
	Name string `json:"name"`
	Fail bool   `json:"fail"`
}

func (linkArgs) Kind() string { return "link" }

// dblArgs returns 2*N; a negative N fails.
type dblArgs struct {
	N int `json:"n"`
}

func (dblArgs) Kind() string { return "dbl" }

// addArgs adds up its dependencies' results.
type addArgs struct{}

func (addArgs) Kind() string { return "add" }

// addResult is what add returns.
type addResult struct {
	Sum    int      `json:"sum"`
	Count  int      `json:"count"`
	States []string `json:"states"`
	Errors []string `json:"errors"`
}

// chunkArgs is one chunk of items; its result is their sum.
type chunkArgs struct {
	Items []int `json:"items"`
}

func (chunkArgs) Kind() string { return "chunk" }

// flowLog records the order in which workflow jobs ran.
type flowLog struct {
	mu  sync.Mutex
	ran []string
}

func (l *flowLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ran = append(l.ran, s)
}

func (l *flowLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ran)
}

// registerFlowKinds registers the workflow test kinds in r.
func registerFlowKinds(r *Registry, log *flowLog) {
	Handle(r, func(_ context.Context, job *Job[linkArgs]) error {
		log.add(job.Args.Name)
		if job.Args.Fail {
			return fmt.Errorf("link %s failed", job.Args.Name)
		}
		return nil
	})
	HandleResult(r, func(_ context.Context, job *Job[dblArgs]) (int, error) {
		if job.Args.N < 0 {
			return 0, fmt.Errorf("dbl: negative %d", job.Args.N)
		}
		return 2 * job.Args.N, nil
	})
	HandleResult(r, func(ctx context.Context, job *Job[addArgs]) (*addResult, error) {
		log.add("add")
		deps, err := DepResults(ctx)
		if err != nil {
			return nil, err
		}
		res := &addResult{}
		for _, d := range deps {
			res.States = append(res.States, string(d.State))
			if d.State != store.StateCompleted {
				res.Errors = append(res.Errors, d.Error)
				continue
			}
			var n int
			if err := d.Decode(&n); err != nil {
				return nil, err
			}
			res.Sum += n
			res.Count++
		}
		return res, nil
	})
	HandleResult(r, func(_ context.Context, job *Job[chunkArgs]) (int, error) {
		sum := 0
		for _, n := range job.Args.Items {
			sum += n
		}
		log.add(fmt.Sprint(len(job.Args.Items)))
		return sum, nil
	})
}

// flowBundle is a store, a client and a worker running the flow kinds.
func flowBundle(t *testing.T) (*testBundle, *flowLog) {
	t.Helper()
	b := setup(t)
	log := &flowLog{}
	registerFlowKinds(b.reg, log)
	b.startWorker(t, nil)
	return b, log
}

// waitWorkflow waits until every job of the workflow is finalized.
func (b *testBundle) waitWorkflow(t *testing.T, id string) *WorkflowStatus {
	t.Helper()
	var st *WorkflowStatus
	waitFor(t, "workflow "+id+" to finish", func() bool {
		var err error
		st, err = b.client.WorkflowGet(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return st.State != WorkflowRunning
	})
	return st
}

func decodeResult[T any](t *testing.T, job *JobRow) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(job.Result, &v); err != nil {
		t.Fatalf("job %d (%s): result %s: %v", job.ID, job.Kind, job.Result, err)
	}
	return v
}

func TestChainRunsInOrder(t *testing.T) {
	t.Parallel()
	b, log := flowBundle(t)
	ctx := context.Background()
	wf, err := b.client.EnqueueWorkflow(ctx, Chain(
		Task(linkArgs{Name: "a"}, nil),
		Task(linkArgs{Name: "b"}, &EnqueueOptions{Queue: "other"}),
		Task(linkArgs{Name: "c"}, nil),
	))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wf.ID, "wf_") || len(wf.Jobs) != 3 {
		t.Fatalf("workflow %+v", wf)
	}
	for i, j := range wf.Jobs {
		want := store.StateWaiting
		if i == 0 {
			want = store.StateAvailable
		}
		if j.Workflow != wf.ID || j.State != want {
			t.Errorf("job %d: workflow %q state %s, want %q %s", i, j.Workflow, j.State, wf.ID, want)
		}
		if i > 0 && !slices.Equal(j.Deps, []int64{wf.Jobs[i-1].ID}) {
			t.Errorf("job %d: deps %v, want the link before it", i, j.Deps)
		}
	}
	// The worker only works "default": b waits in "other" until a worker
	// for it starts, and c waits for b.
	b2 := &testBundle{store: b.store, client: b.client, reg: b.reg}
	b.waitState(t, wf.Jobs[0].ID, store.StateCompleted)
	if got := b.waitState(t, wf.Jobs[1].ID, store.StateAvailable); got.Queue != "other" {
		t.Fatalf("link b: %+v", got)
	}
	if got, _ := b.client.JobGet(ctx, wf.Jobs[2].ID); got.State != store.StateWaiting || got.DepsLeft != 1 {
		t.Fatalf("link c before b ran: %s deps left %d", got.State, got.DepsLeft)
	}
	b2.startWorker(t, &WorkerOptions{Queues: []QueueWeight{{Name: "other", Weight: 1}}})
	st := b.waitWorkflow(t, wf.ID)
	if st.State != WorkflowCompleted || st.Counts[store.StateCompleted] != 3 || st.Total != 3 {
		t.Fatalf("status %+v", st)
	}
	if got := log.get(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("ran %v, want a, b, c", got)
	}
	for i, j := range st.Jobs {
		if j.ID != wf.Jobs[i].ID {
			t.Fatalf("status lists job %d at %d, want %d (oldest first)", j.ID, i, wf.Jobs[i].ID)
		}
	}
}

func TestChainStopsAtAFailedLink(t *testing.T) {
	t.Parallel()
	b, log := flowBundle(t)
	wf, err := b.client.EnqueueWorkflow(context.Background(), Chain(
		Task(linkArgs{Name: "a"}, nil),
		Task(linkArgs{Name: "b", Fail: true}, &EnqueueOptions{MaxAttempts: 2}),
		Task(linkArgs{Name: "c"}, nil),
		Task(linkArgs{Name: "d"}, nil),
	))
	if err != nil {
		t.Fatal(err)
	}
	st := b.waitWorkflow(t, wf.ID)
	if st.State != WorkflowFailed {
		t.Fatalf("state %s, want failed", st.State)
	}
	if got := log.get(); !slices.Equal(got, []string{"a", "b", "b"}) {
		t.Fatalf("ran %v, want a, then b's two attempts", got)
	}
	failed := st.Jobs[1]
	if failed.State != store.StateDiscarded || len(failed.Errors) != 2 || !strings.Contains(failed.Errors[1].Error, "link b failed") {
		t.Fatalf("link b: %s %+v", failed.State, failed.Errors)
	}
	// c is cancelled naming b; d is cancelled naming c.
	for i, dep := range map[int]int64{2: failed.ID, 3: st.Jobs[2].ID} {
		j := st.Jobs[i]
		if j.State != store.StateCancelled || len(j.Errors) != 1 || !strings.Contains(j.Errors[0].Error, fmt.Sprint(dep)) {
			t.Errorf("link %d: %s %+v, want cancelled naming job %d", i, j.State, j.Errors, dep)
		}
	}
	if st.Counts[store.StateCompleted] != 1 || st.Counts[store.StateDiscarded] != 1 || st.Counts[store.StateCancelled] != 2 {
		t.Errorf("counts %v", st.Counts)
	}
}

func TestGroup(t *testing.T) {
	t.Parallel()
	b, _ := flowBundle(t)
	steps := make([]*Step, 8)
	for i := range steps {
		steps[i] = Task(dblArgs{N: i}, nil)
	}
	wf, err := b.client.EnqueueWorkflow(context.Background(), Group(steps...))
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range wf.Jobs {
		if j.State != store.StateAvailable || len(j.Deps) != 0 || j.Workflow != wf.ID {
			t.Fatalf("member %d: %s deps %v workflow %q", i, j.State, j.Deps, j.Workflow)
		}
	}
	st := b.waitWorkflow(t, wf.ID)
	if st.State != WorkflowCompleted || st.Total != 8 {
		t.Fatalf("status %s total %d", st.State, st.Total)
	}
	for i, j := range st.Jobs {
		if got := decodeResult[int](t, j); got != 2*i {
			t.Errorf("member %d: result %d, want %d", i, got, 2*i)
		}
	}
}

func TestChordGetsEveryResult(t *testing.T) {
	t.Parallel()
	b, log := flowBundle(t)
	const n = 50
	members := make([]*Step, n)
	want := 0
	for i := range members {
		members[i] = Task(dblArgs{N: i + 1}, nil)
		want += 2 * (i + 1)
	}
	wf, err := b.client.EnqueueWorkflow(context.Background(), Chord(Group(members...), Task(addArgs{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	cb := wf.Jobs[n]
	if cb.Kind != "add" || cb.State != store.StateWaiting || len(cb.Deps) != n || cb.DepsLeft != n {
		t.Fatalf("callback %s %s deps %d left %d", cb.Kind, cb.State, len(cb.Deps), cb.DepsLeft)
	}
	cb = b.waitState(t, cb.ID, store.StateCompleted)
	res := decodeResult[addResult](t, cb)
	if res.Sum != want || res.Count != n || cb.Attempt != 1 {
		t.Fatalf("callback result %+v at attempt %d, want sum %d of %d", res, cb.Attempt, want, n)
	}
	if got := log.get(); len(got) != 1 || got[0] != "add" {
		t.Fatalf("the callback ran %d times", len(got))
	}
	if st := b.waitWorkflow(t, wf.ID); st.State != WorkflowCompleted || st.Counts[store.StateCompleted] != n+1 {
		t.Fatalf("status %s %v", st.State, st.Counts)
	}
}

func TestChordMemberDiscarded(t *testing.T) {
	t.Parallel()
	b, log := flowBundle(t)
	group := Group(Task(dblArgs{N: 1}, nil), Task(dblArgs{N: -1}, &EnqueueOptions{MaxAttempts: 1}), Task(dblArgs{N: 3}, nil))

	t.Run("callback cancelled by default", func(t *testing.T) {
		wf, err := b.client.EnqueueWorkflow(context.Background(), Chord(group, Task(addArgs{}, nil)))
		if err != nil {
			t.Fatal(err)
		}
		st := b.waitWorkflow(t, wf.ID)
		bad, cb := st.Jobs[1], st.Jobs[3]
		if bad.State != store.StateDiscarded {
			t.Fatalf("member 2: %s", bad.State)
		}
		if cb.State != store.StateCancelled || cb.Attempt != 0 || len(cb.Errors) != 1 ||
			!strings.Contains(cb.Errors[0].Error, fmt.Sprint(bad.ID)) || !strings.Contains(cb.Errors[0].Error, "discarded") {
			t.Fatalf("callback %s attempt %d errors %+v, want cancelled naming job %d", cb.State, cb.Attempt, cb.Errors, bad.ID)
		}
		if st.State != WorkflowFailed || st.Counts[store.StateCompleted] != 2 {
			t.Fatalf("status %s %v: the other members complete", st.State, st.Counts)
		}
		if slices.Contains(log.get(), "add") {
			t.Fatal("the callback ran")
		}
	})

	t.Run("RunOnFailure runs the callback with every state", func(t *testing.T) {
		wf, err := b.client.EnqueueWorkflow(context.Background(), Chord(group, Task(addArgs{}, nil).RunOnFailure()))
		if err != nil {
			t.Fatal(err)
		}
		if !wf.Jobs[3].RunOnFailure || wf.Jobs[0].RunOnFailure {
			t.Fatalf("RunOnFailure on the callback only: %v %v", wf.Jobs[3].RunOnFailure, wf.Jobs[0].RunOnFailure)
		}
		cb := b.waitState(t, wf.Jobs[3].ID, store.StateCompleted)
		res := decodeResult[addResult](t, cb)
		if res.Sum != 8 || res.Count != 2 || !slices.Equal(res.States, []string{"completed", "discarded", "completed"}) ||
			len(res.Errors) != 1 || !strings.Contains(res.Errors[0], "dbl: negative -1") {
			t.Fatalf("callback result %+v", res)
		}
		if st := b.waitWorkflow(t, wf.ID); st.State != WorkflowFailed {
			t.Fatalf("state %s: a discarded member fails the workflow even when the callback ran", st.State)
		}
	})
}

func TestChunks(t *testing.T) {
	t.Parallel()
	b, log := flowBundle(t)
	items := make([]int, 10)
	for i := range items {
		items[i] = i + 1
	}
	chunks := Chunks(items, 3, func(c []int) chunkArgs { return chunkArgs{Items: c} }, &EnqueueOptions{Priority: 2})
	wf, err := b.client.EnqueueWorkflow(context.Background(), Chord(chunks, Task(addArgs{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(wf.Jobs) != 5 {
		t.Fatalf("%d jobs, want 4 chunks and the callback", len(wf.Jobs))
	}
	for i, want := range []string{`{"items":[1,2,3]}`, `{"items":[4,5,6]}`, `{"items":[7,8,9]}`, `{"items":[10]}`} {
		if j := wf.Jobs[i]; string(j.Args) != want || j.Priority != 2 {
			t.Errorf("chunk %d: args %s priority %d, want %s", i, j.Args, j.Priority, want)
		}
	}
	cb := b.waitState(t, wf.Jobs[4].ID, store.StateCompleted)
	if res := decodeResult[addResult](t, cb); res.Sum != 55 || res.Count != 4 {
		t.Fatalf("callback %+v, want the sum 55 of 4 chunks", res)
	}
	sizes := log.get()
	slices.Sort(sizes)
	if !slices.Equal(sizes, []string{"1", "3", "3", "3", "add"}) {
		t.Fatalf("chunk sizes %v", sizes)
	}
}

func TestRawChunks(t *testing.T) {
	t.Parallel()
	items := []json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`{"b":1}`), json.RawMessage(`3`)}
	f := &flattener{workflow: "wf_x"}
	if _, err := f.add(RawChunks("k", items, 2, nil), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	if len(f.rows) != 2 || string(f.rows[0].Args) != `{"items":["a",{"b":1}]}` || string(f.rows[1].Args) != `{"items":[3]}` {
		t.Fatalf("rows %s %s", f.rows[0].Args, f.rows[len(f.rows)-1].Args)
	}
}

func TestWorkflowComposition(t *testing.T) {
	t.Parallel()
	b, log := flowBundle(t)
	// a, then b and (c then d) side by side, then the add: it waits for b
	// and d, the ends of the group.
	wf, err := b.client.EnqueueWorkflow(context.Background(), Chain(
		Task(linkArgs{Name: "a"}, nil),
		Group(Task(dblArgs{N: 10}, nil), Chain(Task(linkArgs{Name: "c"}, nil), Task(dblArgs{N: 5}, nil))),
		Task(addArgs{}, nil),
	))
	if err != nil {
		t.Fatal(err)
	}
	j := wf.Jobs
	id := func(i int) int64 { return j[i].ID }
	for i, want := range [][]int64{nil, {id(0)}, {id(0)}, {id(2)}, {id(1), id(3)}} {
		if !slices.Equal(j[i].Deps, want) {
			t.Errorf("job %d (%s): deps %v, want %v", i, j[i].Kind, j[i].Deps, want)
		}
	}
	cb := b.waitState(t, id(4), store.StateCompleted)
	if res := decodeResult[addResult](t, cb); res.Sum != 30 || res.Count != 2 {
		t.Fatalf("add: %+v, want 20 + 10", res)
	}
	ran := log.get()
	if ran[0] != "a" || ran[len(ran)-1] != "add" {
		t.Fatalf("ran %v: a first, add last", ran)
	}
}

func TestFlattenRunOnFailure(t *testing.T) {
	t.Parallel()
	f := &flattener{workflow: "wf_x"}
	step := Chain(
		Task(linkArgs{}, nil),
		Group(Task(linkArgs{}, nil), Chain(Task(linkArgs{}, nil), Task(linkArgs{}, nil))).RunOnFailure(),
		Task(linkArgs{}, nil),
	)
	if _, err := f.add(step, nil, false, ""); err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, r := range f.rows {
		got = append(got, r.RunOnFailure)
	}
	// The group's heads (members 1 and the first link of member 2) run on
	// failure; the rest do not.
	if want := []bool{false, true, true, false, false}; !slices.Equal(got, want) {
		t.Fatalf("RunOnFailure %v, want %v", got, want)
	}
	// A step that waits for nothing ignores it.
	f = &flattener{workflow: "wf_x"}
	if _, err := f.add(Task(linkArgs{}, nil).RunOnFailure(), nil, false, ""); err != nil || f.rows[0].RunOnFailure {
		t.Fatalf("lone task: %v %v", err, f.rows[0].RunOnFailure)
	}
}

func TestEnqueueWorkflowErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ok := Task(linkArgs{}, nil)
	for _, tc := range []struct {
		step *Step
		want string
	}{
		{nil, "enqueue workflow: the step is nil"},
		{Chain(), "the chain has no steps"},
		{Group(), "the group has no members"},
		{Chain(ok, Group(ok, nil)), "chain step 2: group member 2: the step is nil"},
		{Chain(ok, Group(ok, Task(linkArgs{}, &EnqueueOptions{Queue: "bad queue"}))), "chain step 2: group member 2: enqueue link: Queue:"},
		{Group(RawTask("", nil, nil)), "group member 1: enqueue (empty kind): job kind is empty"},
		{Group(RawTask("k", json.RawMessage(`{`), nil)), "args are not valid JSON"},
		{Chain(ok, Task(linkArgs{}, &EnqueueOptions{UniqueKey: "u"})), "chain step 2: enqueue link: UniqueKey is set, but unique keys are not supported in workflows"},
		{Chunks([]int{1}, 0, func([]int) chunkArgs { return chunkArgs{} }, nil), "chunks: the chunk size must be at least 1, got 0"},
		{Chunks([]int{}, 2, func([]int) chunkArgs { return chunkArgs{} }, nil), "chunks: there are no items"},
		{Chunks[chunkArgs]([]int{1}, 2, nil, nil), "chunks: the chunk function is nil"},
		{Chord(Group(ok), RawChunks("k", nil, 1, nil)), "chain step 2: chunks: there are no items"},
	} {
		_, err := b.client.EnqueueWorkflow(context.Background(), tc.step)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	if jobs, _ := b.client.JobList(context.Background(), nil); len(jobs) != 0 {
		t.Fatalf("%d jobs inserted by invalid workflows", len(jobs))
	}
}

func TestWorkflowGetUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.client.WorkflowGet(context.Background(), "wf_nope")
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "wf_nope") {
		t.Fatalf("unknown workflow: %v", err)
	}
	if _, err := b.client.WorkflowGet(context.Background(), ""); err == nil {
		t.Fatal("empty id: no error")
	}
}

func TestWorkflowGetPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	steps := make([]*Step, workflowPage+5)
	for i := range steps {
		steps[i] = Task(dblArgs{N: i}, nil)
	}
	wf, err := b.client.EnqueueWorkflow(context.Background(), Group(steps...))
	if err != nil {
		t.Fatal(err)
	}
	// Another workflow's jobs are not counted.
	if _, err := b.client.EnqueueWorkflow(context.Background(), Group(Task(dblArgs{}, nil))); err != nil {
		t.Fatal(err)
	}
	st, err := b.client.WorkflowGet(context.Background(), wf.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Total != len(steps) || len(st.Jobs) != len(steps) || st.State != WorkflowRunning || st.Counts[store.StateAvailable] != len(steps) {
		t.Fatalf("status total %d jobs %d state %s counts %v", st.Total, len(st.Jobs), st.State, st.Counts)
	}
	for i, j := range st.Jobs {
		if j.ID != wf.Jobs[i].ID {
			t.Fatalf("job %d is %d, want %d", i, j.ID, wf.Jobs[i].ID)
		}
	}
}

func TestInlineWorkflow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := &flowLog{}
	r := NewRegistry()
	registerFlowKinds(r, log)
	c := NewInlineClient(r, nil)

	t.Run("chord", func(t *testing.T) {
		wf, err := c.EnqueueWorkflow(ctx, Chain(
			Task(linkArgs{Name: "first"}, nil),
			Chord(Group(Task(dblArgs{N: 1}, nil), Task(dblArgs{N: 2}, nil)), Task(addArgs{}, nil)),
		))
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range wf.Jobs {
			if j.State != store.StateCompleted || j.Workflow != wf.ID {
				t.Fatalf("job %d (%s): %s", j.ID, j.Kind, j.State)
			}
		}
		if res := decodeResult[addResult](t, wf.Jobs[3]); res.Sum != 6 || res.Count != 2 {
			t.Fatalf("inline chord result %+v", res)
		}
		if _, err := c.WorkflowGet(ctx, wf.ID); !errors.Is(err, errInlineClientNoDB) {
			t.Fatalf("WorkflowGet on the inline client: %v", err)
		}
	})

	t.Run("failure", func(t *testing.T) {
		wf, err := c.EnqueueWorkflow(ctx, Chain(
			Task(linkArgs{Name: "x", Fail: true}, nil),
			Task(linkArgs{Name: "y"}, nil),
			Task(addArgs{}, nil).RunOnFailure(),
		))
		if err == nil || !strings.Contains(err.Error(), "job 1 of 3 (link) failed: link x failed") || wf == nil {
			t.Fatalf("error %v, want one naming the failed link", err)
		}
		st := []store.State{wf.Jobs[0].State, wf.Jobs[1].State, wf.Jobs[2].State}
		if !slices.Equal(st, []store.State{store.StateDiscarded, store.StateCancelled, store.StateCompleted}) {
			t.Fatalf("states %v", st)
		}
		if e := wf.Jobs[1].Errors; len(e) != 1 || e[0].Error != fmt.Sprintf("dependency job %d was discarded", wf.Jobs[0].ID) {
			t.Fatalf("cancelled link's errors %+v", e)
		}
		if res := decodeResult[addResult](t, wf.Jobs[2]); !slices.Equal(res.States, []string{"cancelled"}) {
			t.Fatalf("the callback on failure saw %+v", res)
		}
		if slices.Contains(log.get(), "y") {
			t.Fatal("y ran after x failed")
		}
	})
}
