package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/doubleboiler/boiler"
	"github.com/doubleboiler/boiler/store"
)

// Limits of the job routes.
const (
	maxBatchJobs     = 10_000
	defaultListLimit = 50
	maxListLimit     = 500
	maxKindLen       = 255
	maxQueueNameLen  = 100
)

// jobInput is one job to enqueue, as POST /api/jobs takes it.
type jobInput struct {
	Kind        string          `json:"kind"`
	Args        json.RawMessage `json:"args"`
	Queue       string          `json:"queue"`
	Priority    int             `json:"priority"`
	RunAt       string          `json:"run_at"` // RFC 3339
	RunInMS     int64           `json:"run_in_ms"`
	MaxAttempts int             `json:"max_attempts"`
	TimeoutMS   int64           `json:"timeout_ms"`
	UniqueKey   string          `json:"unique_key"`
	UniqueForMS int64           `json:"unique_for_ms"`
}

// params checks in and turns it into the client's params; errors name the
// field, prefixed by where (like "jobs[2].").
func (in *jobInput) params(where string) (boiler.EnqueueRawParams, error) {
	bad := func(field, format string, args ...any) error {
		return errorf(http.StatusBadRequest, "%s%s: %s", where, field, fmt.Sprintf(format, args...))
	}
	switch {
	case in.Kind == "":
		return boiler.EnqueueRawParams{}, bad("kind", "is required")
	case len(in.Kind) > maxKindLen:
		return boiler.EnqueueRawParams{}, bad("kind", "is %d bytes long, more than %d", len(in.Kind), maxKindLen)
	case in.RunInMS < 0:
		return boiler.EnqueueRawParams{}, bad("run_in_ms", "must not be negative, got %d", in.RunInMS)
	case in.MaxAttempts < 0:
		return boiler.EnqueueRawParams{}, bad("max_attempts", "must not be negative, got %d", in.MaxAttempts)
	case in.TimeoutMS < 0:
		return boiler.EnqueueRawParams{}, bad("timeout_ms", "must not be negative, got %d", in.TimeoutMS)
	case in.UniqueForMS < 0:
		return boiler.EnqueueRawParams{}, bad("unique_for_ms", "must not be negative, got %d", in.UniqueForMS)
	case in.UniqueForMS > 0 && in.UniqueKey == "":
		return boiler.EnqueueRawParams{}, bad("unique_for_ms", "is set but unique_key is empty")
	}
	if in.Queue != "" {
		if err := validateQueueName(in.Queue); err != nil {
			return boiler.EnqueueRawParams{}, bad("queue", "%s", err)
		}
	}
	opts := &boiler.EnqueueOptions{
		Queue:       in.Queue,
		Priority:    in.Priority,
		RunIn:       time.Duration(in.RunInMS) * time.Millisecond,
		MaxAttempts: in.MaxAttempts,
		Timeout:     time.Duration(in.TimeoutMS) * time.Millisecond,
		UniqueKey:   in.UniqueKey,
		UniqueFor:   time.Duration(in.UniqueForMS) * time.Millisecond,
	}
	if in.RunAt != "" {
		t, err := time.Parse(time.RFC3339Nano, in.RunAt)
		if err != nil {
			return boiler.EnqueueRawParams{}, bad("run_at", "%q is not an RFC 3339 time like 2026-01-02T15:04:05Z", in.RunAt)
		}
		opts.RunAt = t
	}
	// The body decoded, so args are valid JSON; a JSON null means none.
	args := in.Args
	if strings.TrimSpace(string(args)) == "null" {
		args = nil
	}
	return boiler.EnqueueRawParams{Kind: in.Kind, Args: args, Options: opts}, nil
}

// validateQueueName applies the rule of boiler.EnqueueOptions.Queue, so a
// bad name is the caller's 400, not the store's 500.
func validateQueueName(name string) error {
	if len(name) > maxQueueNameLen {
		return fmt.Errorf("%.20q... is %d characters long, more than %d", name, len(name), maxQueueNameLen)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("%q has the character %q: use letters, digits, '_', '-' and '.'", name, c)
		}
	}
	return nil
}

// enqueueResult is one enqueued job.
type enqueueResult struct {
	Job       *store.Job `json:"job"`
	Duplicate bool       `json:"duplicate"` // the existing job holding the unique key
}

// POST /api/jobs

type jobCreateRequest struct{ jobInput }

func (*jobCreateRequest) bodyLimit() int64 { return maxBody }

type jobCreateResponse struct{ enqueueResult }

// statusCode is 201 for a new job, 200 for a duplicate.
func (r *jobCreateResponse) statusCode() int {
	if r.Duplicate {
		return http.StatusOK
	}
	return http.StatusCreated
}

func (a *api) jobCreate(ctx context.Context, req *jobCreateRequest) (*jobCreateResponse, error) {
	p, err := req.params("")
	if err != nil {
		return nil, err
	}
	res, err := a.client.EnqueueRaw(ctx, p.Kind, p.Args, p.Options)
	if err != nil {
		return nil, err
	}
	return &jobCreateResponse{enqueueResult{Job: res.Job, Duplicate: res.Duplicate}}, nil
}

// POST /api/jobs/batch

type jobBatchRequest struct {
	Jobs []jobInput `json:"jobs"`
}

func (*jobBatchRequest) bodyLimit() int64 { return maxBatchBody }

type jobBatchResponse struct {
	Results []enqueueResult `json:"results"`
}

func (*jobBatchResponse) statusCode() int { return http.StatusCreated }

func (a *api) jobBatch(ctx context.Context, req *jobBatchRequest) (*jobBatchResponse, error) {
	switch {
	case len(req.Jobs) == 0:
		return nil, errorf(http.StatusBadRequest, "jobs: the list is empty")
	case len(req.Jobs) > maxBatchJobs:
		return nil, errorf(http.StatusBadRequest, "jobs: %d jobs, more than %d in one batch", len(req.Jobs), maxBatchJobs)
	}
	params := make([]boiler.EnqueueRawParams, len(req.Jobs))
	for i := range req.Jobs {
		p, err := req.Jobs[i].params(fmt.Sprintf("jobs[%d].", i))
		if err != nil {
			return nil, err
		}
		params[i] = p
	}
	res, err := a.client.EnqueueRawMany(ctx, params)
	if err != nil {
		return nil, err
	}
	out := &jobBatchResponse{Results: make([]enqueueResult, len(res))}
	for i, r := range res {
		out.Results[i] = enqueueResult{Job: r.Job, Duplicate: r.Duplicate}
	}
	return out, nil
}

// GET /api/jobs

type jobListRequest struct {
	params store.JobListParams
}

func (req *jobListRequest) fromRequest(r *http.Request) error {
	q := r.URL.Query()
	for _, s := range strings.Split(q.Get("state"), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !store.State(s).Valid() {
			return errorf(http.StatusBadRequest, "state: unknown state %q (states: %v)", s, store.States)
		}
		req.params.States = append(req.params.States, store.State(s))
	}
	req.params.Queue = q.Get("queue")
	req.params.Kind = q.Get("kind")
	req.params.Workflow = q.Get("workflow")
	var err error
	if req.params.BeforeID, err = queryInt(q.Get("cursor"), "cursor", 0, 0, 1<<62); err != nil {
		return err
	}
	limit, err := queryInt(q.Get("limit"), "limit", defaultListLimit, 1, maxListLimit)
	req.params.Limit = int(limit)
	return err
}

// queryInt parses a query parameter, def when empty, within [lo, hi].
func queryInt(s, name string, def, lo, hi int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, errorf(http.StatusBadRequest, "%s: %q is not a whole number from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

type jobListResponse struct {
	Jobs []*store.Job `json:"jobs"`
	// NextCursor is the cursor of the next page (pass it as ?cursor=), 0
	// when this page is the last.
	NextCursor int64 `json:"next_cursor"`
}

func (a *api) jobList(ctx context.Context, req *jobListRequest) (*jobListResponse, error) {
	p := req.params
	p.Limit++ // one more tells whether a next page exists
	jobs, err := a.client.JobList(ctx, &p)
	if err != nil {
		return nil, err
	}
	out := &jobListResponse{Jobs: jobs}
	if len(jobs) > req.params.Limit {
		out.Jobs = jobs[:req.params.Limit]
		out.NextCursor = out.Jobs[len(out.Jobs)-1].ID
	}
	if out.Jobs == nil {
		out.Jobs = []*store.Job{}
	}
	return out, nil
}

// GET /api/jobs/{id}, POST /api/jobs/{id}/retry, POST /api/jobs/{id}/cancel,
// DELETE /api/jobs/{id}: the response is the job itself (GET adds the
// states of its dependencies).

type jobIDRequest struct{ id int64 }

func (req *jobIDRequest) fromRequest(r *http.Request) error {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return errorf(http.StatusBadRequest, "job id %q is not a positive whole number", s)
	}
	req.id = id
	return nil
}

// maxDepStates bounds how many dependencies' states a job's detail shows
// (a chord's callback may wait for thousands).
const maxDepStates = 200

// jobDetail is a job as GET /api/jobs/{id} shows it: the job's own fields
// and, for a job with dependencies, their states.
type jobDetail struct {
	*store.Job
	// DepStates are the states of the first maxDepStates of Deps, in
	// their order (absent without Options.Store).
	DepStates []depState `json:"dep_states,omitempty"`
}

// depState is one dependency of a job.
type depState struct {
	ID    int64       `json:"id"`
	Kind  string      `json:"kind,omitempty"`
	State store.State `json:"state,omitempty"`
	// Gone is set when the dependency no longer exists (deleted, or
	// cleaned after the retention period).
	Gone bool `json:"gone,omitempty"`
}

func (a *api) jobGet(ctx context.Context, req *jobIDRequest) (*jobDetail, error) {
	job, err := a.client.JobGet(ctx, req.id)
	if err != nil {
		return nil, err
	}
	out := &jobDetail{Job: job}
	if len(job.Deps) == 0 || a.opts.Store == nil {
		return out, nil
	}
	ids := job.Deps[:min(len(job.Deps), maxDepStates)]
	deps, err := a.opts.Store.JobGetMany(ctx, ids)
	if errors.Is(err, errors.ErrUnsupported) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting the dependencies of job %d: %w", job.ID, err)
	}
	byID := make(map[int64]*store.Job, len(deps))
	for _, d := range deps {
		byID[d.ID] = d
	}
	out.DepStates = make([]depState, len(ids))
	for i, id := range ids {
		out.DepStates[i] = depState{ID: id, Gone: true}
		if d := byID[id]; d != nil {
			out.DepStates[i] = depState{ID: id, Kind: d.Kind, State: d.State}
		}
	}
	return out, nil
}

func (a *api) jobRetry(ctx context.Context, req *jobIDRequest) (*store.Job, error) {
	return a.client.JobRetry(ctx, req.id)
}

func (a *api) jobCancel(ctx context.Context, req *jobIDRequest) (*store.Job, error) {
	return a.client.JobCancel(ctx, req.id)
}

func (a *api) jobDelete(ctx context.Context, req *jobIDRequest) (*store.Job, error) {
	return a.client.JobDelete(ctx, req.id)
}
