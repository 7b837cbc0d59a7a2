package boiler

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// Step is one node of a workflow: a job ([Task], [RawTask]), steps run one
// after another ([Chain]), steps run side by side ([Group]), or a group
// followed by a callback ([Chord], [Chunks]). Steps nest: a chain's step
// may be a group (every member waits for the step before it, and the step
// after it waits for every member), a group's member may be a chain.
// [Client.EnqueueWorkflow] inserts a step's jobs in one atomic call.
//
// A step is a description: building one checks nothing (EnqueueWorkflow
// reports every mistake, naming the step), and the same step may be
// enqueued any number of times.
type Step struct {
	op  stepOp
	err error // a builder's mistake, reported by EnqueueWorkflow

	// Task
	typed        *EnqueueParams
	raw          *EnqueueRawParams
	runOnFailure bool

	// Chain, Group
	steps []*Step
}

type stepOp int

const (
	opTask stepOp = iota
	opChain
	opGroup
)

// Task is a step that runs one job, with args and opts as for
// [Client.Enqueue] (opts may be nil).
func Task(args JobArgs, opts *EnqueueOptions) *Step {
	return &Step{op: opTask, typed: &EnqueueParams{Args: args, Options: opts}}
}

// RawTask is a step that runs one job given by its kind and JSON args, as
// for [Client.EnqueueRaw] (empty args mean {}, opts may be nil).
func RawTask(kind string, args json.RawMessage, opts *EnqueueOptions) *Step {
	return &Step{op: opTask, raw: &EnqueueRawParams{Kind: kind, Args: args, Options: opts}}
}

// Chain is a step that runs steps one after another: each starts once the
// one before it completed. A step that fails (a job discarded or
// cancelled) cancels every step after it; each cancelled job's error names
// the job it waited for and how that one ended. A chain needs at least
// one step.
func Chain(steps ...*Step) *Step {
	return &Step{op: opChain, steps: steps}
}

// Group is a step that runs steps side by side: their jobs do not wait for
// one another. The group is done when every member is; a step after the
// group (in a [Chain] or a [Chord]) waits for all of them. A group needs
// at least one step.
func Group(steps ...*Step) *Step {
	return &Step{op: opGroup, steps: steps}
}

// Chord is a step that runs group (any step, usually a [Group]) and then
// callback, once every job of the group is finished: the callback's job
// runs exactly once, and reads its members' results with [DepResults].
// It is Chain(group, callback).
//
// When a member fails (is discarded after its last attempt, or
// cancelled), the callback is cancelled at once, its error naming that
// member; the other members run on. With callback.RunOnFailure() the
// callback instead runs once every member is finalized, whatever their
// final states, and DepResults shows each member's state and error.
func Chord(group, callback *Step) *Step {
	return Chain(group, callback)
}

// Chunks is a group that splits items into jobs of at most n items each,
// in order: the job of each chunk has the args chunk(items[i:i+n]) and
// opts (which may be nil). With no items, or n < 1, EnqueueWorkflow
// returns an error. Pass the result to [Chord] to run a callback after
// every chunk.
func Chunks[A JobArgs, I any](items []I, n int, chunk func(items []I) A, opts *EnqueueOptions) *Step {
	if err := checkChunks(len(items), n); err != nil {
		return &Step{op: opGroup, err: err}
	}
	if chunk == nil {
		return &Step{op: opGroup, err: errors.New("chunks: the chunk function is nil")}
	}
	steps := make([]*Step, 0, (len(items)+n-1)/n)
	for i := 0; i < len(items); i += n {
		steps = append(steps, Task(chunk(items[i:min(i+n, len(items))]), opts))
	}
	return Group(steps...)
}

// RawChunks is [Chunks] for raw jobs: each chunk is a job of kind whose
// args are {"items": [...]} with at most n of items (each valid JSON).
func RawChunks(kind string, items []json.RawMessage, n int, opts *EnqueueOptions) *Step {
	if err := checkChunks(len(items), n); err != nil {
		return &Step{op: opGroup, err: err}
	}
	steps := make([]*Step, 0, (len(items)+n-1)/n)
	for i := 0; i < len(items); i += n {
		args, err := json.Marshal(struct {
			Items []json.RawMessage `json:"items"`
		}{items[i:min(i+n, len(items))]})
		if err != nil {
			return &Step{op: opGroup, err: fmt.Errorf("chunks: item %d to %d: %w", i+1, min(i+n, len(items)), err)}
		}
		steps = append(steps, RawTask(kind, args, opts))
	}
	return Group(steps...)
}

func checkChunks(items, n int) error {
	switch {
	case n < 1:
		return fmt.Errorf("chunks: the chunk size must be at least 1, got %d", n)
	case items == 0:
		return errors.New("chunks: there are no items")
	}
	return nil
}

// RunOnFailure returns a copy of s whose first jobs (a task's job, a
// chain's first step, every member of a group) run once the jobs they wait
// for are finalized, whatever their final states, instead of being
// cancelled when one of them fails. Use it on a chord's callback that
// must run anyway (to report, or to clean up). It changes nothing for a
// step that waits for nothing.
func (s *Step) RunOnFailure() *Step {
	if s == nil {
		return nil
	}
	c := *s
	c.runOnFailure = true
	return &c
}

// WorkflowResult is the outcome of [Client.EnqueueWorkflow].
type WorkflowResult struct {
	// ID is the workflow's ID, shared by all its jobs (JobRow.Workflow):
	// [Client.WorkflowGet] and the Workflow filter of JobList find them
	// by it.
	ID string
	// Jobs are the inserted jobs in the order their tasks appear in the
	// step, depth first: for Chord(Group(a, b), c) that is a, b, c.
	Jobs []*JobRow
}

// workflowIDPrefix starts every generated workflow ID.
const workflowIDPrefix = "wf_"

// newWorkflowID returns a fresh random workflow ID.
func newWorkflowID() string {
	return workflowIDPrefix + strings.ToLower(rand.Text())
}

// EnqueueWorkflow inserts the jobs of root in one atomic step (one round
// trip to the store), tagged with a new workflow ID, each job waiting for
// the jobs its step comes after (see [Step]): jobs with nothing to wait
// for are available at once, the others wait (state waiting) until their
// dependencies finish. If any step is invalid, nothing is inserted and
// the error names the step, like "chain step 2: group member 3: enqueue
// email: ...".
//
// Unique keys are refused in a workflow: a duplicate would not be
// inserted, and the steps after it would wait on someone else's job.
//
// An inline client ([NewInlineClient]) runs the jobs at once, one after the
// other in the order of WorkflowResult.Jobs, each once: a failed job (its
// handler returned an error) fails the jobs waiting for it as a worker
// would (they are cancelled, or run if RunOnFailure), and EnqueueWorkflow
// then returns the result, every job in the state it reached, together
// with an error naming the first failed job and wrapping its error. A
// snoozed job is not run again: the jobs after it stay waiting, and the
// error says so.
func (c *Client) EnqueueWorkflow(ctx context.Context, root *Step) (*WorkflowResult, error) {
	id := newWorkflowID()
	now := c.now()
	f := &flattener{now: now, workflow: id}
	if _, err := f.add(root, nil, false, ""); err != nil {
		return nil, fmt.Errorf("enqueue workflow: %w", err)
	}
	if len(f.rows) == 0 {
		return nil, errors.New("enqueue workflow: it has no jobs")
	}
	if c.store == nil {
		return c.runInlineWorkflow(ctx, id, f.rows)
	}
	res, err := c.store.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: f.rows, Now: now})
	if err != nil {
		return nil, fmt.Errorf("enqueue workflow of %d jobs: %w", len(f.rows), err)
	}
	out := &WorkflowResult{ID: id, Jobs: make([]*JobRow, len(res))}
	for i, r := range res {
		out.Jobs[i] = r.Job
	}
	return out, nil
}

// flattener turns a step tree into insert rows.
type flattener struct {
	now      time.Time
	workflow string
	rows     []*store.JobInsertParams
}

// add appends the rows of s, whose first jobs wait for the rows after
// (indexes), with RunOnFailure rof, and returns the indexes of its last
// jobs (those a following step waits for). where names s in errors.
func (f *flattener) add(s *Step, after []int, rof bool, where string) ([]int, error) {
	if s == nil {
		return nil, fmt.Errorf("%sthe step is nil", where)
	}
	if s.err != nil {
		return nil, fmt.Errorf("%s%w", where, s.err)
	}
	rof = rof || s.runOnFailure
	switch s.op {
	case opTask:
		var row *store.JobInsertParams
		var err error
		if s.typed != nil {
			var kind string
			kind, row, err = typedInsertParams(*s.typed, f.now)
			if err != nil {
				return nil, fmt.Errorf("%senqueue %s: %w", where, kind, err)
			}
		} else {
			row, err = rawInsertParams(*s.raw, f.now)
			if err != nil {
				return nil, fmt.Errorf("%senqueue %s: %w", where, kindName(s.raw.Kind), err)
			}
		}
		if row.UniqueKey != "" {
			return nil, fmt.Errorf("%senqueue %s: UniqueKey is set, but unique keys are not supported in workflows", where, row.Kind)
		}
		row.Workflow = f.workflow
		if len(after) > 0 {
			row.After = after
			row.RunOnFailure = rof
		}
		f.rows = append(f.rows, row)
		return []int{len(f.rows) - 1}, nil
	case opChain:
		if len(s.steps) == 0 {
			return nil, fmt.Errorf("%sthe chain has no steps", where)
		}
		for i, sub := range s.steps {
			var err error
			after, err = f.add(sub, after, rof && i == 0, fmt.Sprintf("%schain step %d: ", where, i+1))
			if err != nil {
				return nil, err
			}
		}
		return after, nil
	case opGroup:
		if len(s.steps) == 0 {
			return nil, fmt.Errorf("%sthe group has no members", where)
		}
		var last []int
		for i, sub := range s.steps {
			tail, err := f.add(sub, after, rof, fmt.Sprintf("%sgroup member %d: ", where, i+1))
			if err != nil {
				return nil, err
			}
			last = append(last, tail...)
		}
		return last, nil
	}
	return nil, fmt.Errorf("%sunknown step", where)
}

// WorkflowState summarizes a workflow's jobs.
type WorkflowState string

// The states of a workflow.
const (
	// WorkflowRunning: some job is not finalized yet (waiting, pending or
	// running).
	WorkflowRunning WorkflowState = "running"
	// WorkflowCompleted: every job completed.
	WorkflowCompleted WorkflowState = "completed"
	// WorkflowFailed: every job is finalized and at least one was
	// discarded or cancelled (a failed chain link, and the links it
	// cancelled; a chord callback that ran on failure counts its failed
	// members).
	WorkflowFailed WorkflowState = "failed"
)

// WorkflowStatus is a workflow's jobs and their summary, as
// [Client.WorkflowGet] returns it.
type WorkflowStatus struct {
	ID    string        `json:"id"`
	State WorkflowState `json:"state"`
	// Counts has an entry for every job state (zero included).
	Counts map[store.State]int `json:"counts"`
	// Total is len(Jobs).
	Total int `json:"total"`
	// Jobs are the workflow's jobs, oldest (lowest ID) first, which is
	// the order of WorkflowResult.Jobs. Jobs deleted after their
	// retention are gone.
	Jobs []*JobRow `json:"jobs"`
}

// workflowPage is the page size of WorkflowGet's JobList calls.
const workflowPage = 1000

// WorkflowGet returns the jobs of the workflow id and their summary. A
// workflow without jobs (an unknown ID, or every job deleted after its
// retention) is [store.ErrNotFound], wrapped.
func (c *Client) WorkflowGet(ctx context.Context, id string) (*WorkflowStatus, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	if id == "" {
		return nil, errors.New("getting workflow: the id is empty")
	}
	var jobs []*JobRow
	p := &store.JobListParams{Workflow: id, Limit: workflowPage}
	for {
		page, err := c.store.JobList(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("getting workflow %q: %w", id, err)
		}
		jobs = append(jobs, page...)
		if len(page) < workflowPage {
			break
		}
		p.BeforeID = page[len(page)-1].ID
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("workflow %q has no jobs (unknown, or deleted after their retention): %w", id, store.ErrNotFound)
	}
	slices.Reverse(jobs) // JobList is newest first
	return workflowStatus(id, jobs), nil
}

// workflowStatus summarizes jobs, oldest first.
func workflowStatus(id string, jobs []*JobRow) *WorkflowStatus {
	st := &WorkflowStatus{ID: id, State: WorkflowCompleted, Counts: make(map[store.State]int, len(store.States)), Total: len(jobs), Jobs: jobs}
	for _, s := range store.States {
		st.Counts[s] = 0
	}
	running := false
	for _, j := range jobs {
		st.Counts[j.State]++
		switch {
		case !j.State.Finalized():
			running = true
		case j.State != store.StateCompleted:
			st.State = WorkflowFailed
		}
	}
	if running {
		st.State = WorkflowRunning
	}
	return st
}
