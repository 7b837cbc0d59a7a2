package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/doubleboiler/boiler"
)

// Limits of the workflow routes.
const (
	maxWorkflowJobs = maxBatchJobs // jobs of one workflow, the callback included
	maxWorkflowID   = 200
)

// Workflow types of POST /api/workflows.
const (
	workflowChain  = "chain"
	workflowGroup  = "group"
	workflowChord  = "chord"
	workflowChunks = "chunks"
)

// POST /api/workflows
//
//	{"type":"chain","jobs":[job, ...]}                  each job after the previous one completed
//	{"type":"group","jobs":[job, ...]}                  side by side
//	{"type":"chord","jobs":[job, ...],"callback":job}   the callback after every job, once
//	{"type":"chunks","job":job,"items":[...],"chunk_size":n[,"callback":job]}
//	                                                    one job per n items, args {"items":[...]}
//
// A job is POST /api/jobs's body (no unique_key). "run_on_failure": true
// makes a chord's callback run even when members fail (default: it is
// cancelled naming the first failed member). The answer is 201
// {"id":"wf_...","job_ids":[...],"callback_id":N}.

type workflowCreateRequest struct {
	Type      string            `json:"type"`
	Jobs      []jobInput        `json:"jobs"`
	Job       *jobInput         `json:"job"`
	Items     []json.RawMessage `json:"items"`
	ChunkSize int               `json:"chunk_size"`
	Callback  *jobInput         `json:"callback"`
	// RunOnFailure runs the callback once every member is finalized,
	// whatever their states.
	RunOnFailure bool `json:"run_on_failure"`
}

func (*workflowCreateRequest) bodyLimit() int64 { return maxBatchBody }

type workflowCreateResponse struct {
	ID string `json:"id"`
	// JobIDs are the IDs of "jobs" (or of the chunks), in order.
	JobIDs []int64 `json:"job_ids"`
	// CallbackID is the callback's job ID, when there is one.
	CallbackID int64 `json:"callback_id,omitempty"`
}

func (*workflowCreateResponse) statusCode() int { return http.StatusCreated }

// step builds the request's workflow, or a 400 naming the field.
func (req *workflowCreateRequest) step() (*boiler.Step, error) {
	bad := func(field, format string, args ...any) error {
		return errorf(http.StatusBadRequest, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	task := func(in *jobInput, where string) (*boiler.Step, error) {
		if in.UniqueKey != "" {
			return nil, bad(where+"unique_key", "unique keys are not supported in workflows")
		}
		p, err := in.params(where)
		if err != nil {
			return nil, err
		}
		return boiler.RawTask(p.Kind, p.Args, p.Options), nil
	}
	var members *boiler.Step
	jobs := 0
	switch req.Type {
	case workflowChain, workflowGroup, workflowChord:
		switch {
		case req.Job != nil:
			return nil, bad("job", "is for type chunks; a %s takes jobs", req.Type)
		case req.Items != nil:
			return nil, bad("items", "is for type chunks; a %s takes jobs", req.Type)
		case req.ChunkSize != 0:
			return nil, bad("chunk_size", "is for type chunks")
		case len(req.Jobs) == 0:
			return nil, bad("jobs", "the list is empty")
		case len(req.Jobs) > maxWorkflowJobs:
			return nil, bad("jobs", "%d jobs, more than %d in one workflow", len(req.Jobs), maxWorkflowJobs)
		}
		steps := make([]*boiler.Step, len(req.Jobs))
		for i := range req.Jobs {
			var err error
			if steps[i], err = task(&req.Jobs[i], fmt.Sprintf("jobs[%d].", i)); err != nil {
				return nil, err
			}
		}
		jobs = len(steps)
		if req.Type == workflowChain {
			members = boiler.Chain(steps...)
		} else {
			members = boiler.Group(steps...)
		}
	case workflowChunks:
		switch {
		case req.Jobs != nil:
			return nil, bad("jobs", "a chunks workflow takes job (the chunks' kind and options) and items")
		case req.Job == nil:
			return nil, bad("job", "is required: the kind and options of every chunk")
		case req.Job.Args != nil && string(req.Job.Args) != "null":
			return nil, bad("job.args", `must be empty: each chunk's args are {"items":[...]}`)
		case len(req.Items) == 0:
			return nil, bad("items", "the list is empty")
		case req.ChunkSize < 1:
			return nil, bad("chunk_size", "must be at least 1, got %d", req.ChunkSize)
		}
		jobs = (len(req.Items) + req.ChunkSize - 1) / req.ChunkSize
		if jobs > maxWorkflowJobs {
			return nil, bad("chunk_size", "%d items in chunks of %d make %d jobs, more than %d in one workflow", len(req.Items), req.ChunkSize, jobs, maxWorkflowJobs)
		}
		if req.Job.UniqueKey != "" {
			return nil, bad("job.unique_key", "unique keys are not supported in workflows")
		}
		p, err := req.Job.params("job.")
		if err != nil {
			return nil, err
		}
		members = boiler.RawChunks(p.Kind, req.Items, req.ChunkSize, p.Options)
	case "":
		return nil, bad("type", "is required: chain, group, chord or chunks")
	default:
		return nil, bad("type", "%q is not a workflow type: chain, group, chord or chunks", req.Type)
	}

	switch {
	case req.Callback == nil && req.Type == workflowChord:
		return nil, bad("callback", "is required for a chord")
	case req.Callback == nil && req.RunOnFailure:
		return nil, bad("run_on_failure", "applies to the callback, and there is none")
	case req.Callback == nil:
		return members, nil
	case req.Type == workflowChain || req.Type == workflowGroup:
		return nil, bad("callback", "is for types chord and chunks: make the job the chain's last, or use a chord")
	case jobs+1 > maxWorkflowJobs:
		return nil, bad("callback", "makes %d jobs, more than %d in one workflow", jobs+1, maxWorkflowJobs)
	}
	cb, err := task(req.Callback, "callback.")
	if err != nil {
		return nil, err
	}
	if req.RunOnFailure {
		cb = cb.RunOnFailure()
	}
	return boiler.Chord(members, cb), nil
}

func (a *api) workflowCreate(ctx context.Context, req *workflowCreateRequest) (*workflowCreateResponse, error) {
	step, err := req.step()
	if err != nil {
		return nil, err
	}
	wf, err := a.client.EnqueueWorkflow(ctx, step)
	if err != nil {
		return nil, err
	}
	out := &workflowCreateResponse{ID: wf.ID, JobIDs: make([]int64, 0, len(wf.Jobs))}
	jobs := wf.Jobs
	if req.Callback != nil {
		out.CallbackID = jobs[len(jobs)-1].ID
		jobs = jobs[:len(jobs)-1]
	}
	for _, j := range jobs {
		out.JobIDs = append(out.JobIDs, j.ID)
	}
	return out, nil
}

// GET /api/workflows/{id}: boiler.WorkflowStatus, {"id","state","counts",
// "total","jobs"}, the jobs oldest first; 404 when no job has the id.

type workflowIDRequest struct{ id string }

func (req *workflowIDRequest) fromRequest(r *http.Request) error {
	req.id = r.PathValue("id")
	if req.id == "" || len(req.id) > maxWorkflowID {
		return errorf(http.StatusBadRequest, "workflow id: want 1 to %d characters, got %d", maxWorkflowID, len(req.id))
	}
	return nil
}

func (a *api) workflowGet(ctx context.Context, req *workflowIDRequest) (*boiler.WorkflowStatus, error) {
	return a.client.WorkflowGet(ctx, req.id)
}
