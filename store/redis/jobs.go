package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/doubleboiler/boiler/store"
)

// fetchInline is the largest fetch whose jobs the fetch script returns
// whole; a bigger one returns ids, read in a pipeline (see lua/fetch.lua).
const fetchInline = 8

// listBudget bounds how many ids one JobList script call reads, so a
// selective filter over many jobs cannot block Redis for long; JobList
// calls the script again from where it stopped.
const listBudget = 5000

// JobInsertMany inserts jobs in one script: unique keys are checked and
// taken, ids drawn from the counter, and idle workers woken by one
// PUBLISH per queue that got an available job.
func (s *Store) JobInsertMany(ctx context.Context, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	if len(params.Jobs) == 0 {
		return []store.JobInsertResult{}, nil
	}
	now, err := encodeTime(params.Now, "Now")
	if err != nil {
		return nil, fmt.Errorf("inserting jobs: %w", err)
	}
	args := make([]any, 0, 2+11*len(params.Jobs))
	args = append(args, now, len(params.Jobs))
	for i, p := range params.Jobs {
		state, at := insertState(p, params)
		runAt, err := encodeTime(at, "RunAt")
		if err != nil {
			return nil, fmt.Errorf("inserting job %d (%s): %w", i, p.Kind, err)
		}
		until, err := encodeOptionalTime(p.UniqueUntil, "UniqueUntil")
		if err != nil {
			return nil, fmt.Errorf("inserting job %d (%s): %w", i, p.Kind, err)
		}
		args = append(args, p.Kind, p.Queue, p.Priority, -p.Priority, string(p.Args), p.MaxAttempts,
			int64(p.Timeout), string(state), runAt, p.UniqueKey, until)
	}
	raw, err := s.scripts.insert.Run(ctx, s.client, s.keys, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("inserting jobs: %w", interpretError(err))
	}
	list, ok := raw.([]any)
	if !ok || len(list) != len(params.Jobs) {
		return nil, fmt.Errorf("inserting jobs: unexpected reply %v", raw)
	}
	results := make([]store.JobInsertResult, len(list))
	for i, item := range list {
		entry, _ := item.([]any)
		if len(entry) == 2 {
			j, err := decodeIDJob(entry)
			if err != nil {
				return nil, fmt.Errorf("inserting jobs: %w", err)
			}
			results[i] = store.JobInsertResult{Job: j, Duplicate: true}
			continue
		}
		if len(entry) != 1 {
			return nil, fmt.Errorf("inserting jobs: unexpected reply %v", item)
		}
		idStr, _ := entry[0].(string)
		id, err := strconv.ParseInt(idStr, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("inserting jobs: unexpected id %q", idStr)
		}
		results[i] = store.JobInsertResult{Job: newJob(id, params.Jobs[i], params)}
	}
	return results, nil
}

// insertState is the state and RunAt of a new job: scheduled at its RunAt
// when that is after Now, else available at Now.
func insertState(p *store.JobInsertParams, params *store.JobInsertManyParams) (store.State, time.Time) {
	if p.RunAt.After(params.Now) {
		return store.StateScheduled, p.RunAt
	}
	return store.StateAvailable, params.Now
}

// newJob is the row JobInsertMany just wrote, built without reading it back.
func newJob(id int64, p *store.JobInsertParams, params *store.JobInsertManyParams) *store.Job {
	state, runAt := insertState(p, params)
	return &store.Job{
		ID:          id,
		Kind:        p.Kind,
		Queue:       p.Queue,
		Priority:    p.Priority,
		Args:        p.Args,
		State:       state,
		MaxAttempts: p.MaxAttempts,
		Timeout:     p.Timeout,
		EnqueuedAt:  truncTime(params.Now),
		RunAt:       truncTime(runAt),
		UniqueKey:   p.UniqueKey,
		UniqueUntil: truncTime(p.UniqueUntil),
	}
}

// JobFetch leases jobs in one script, which first moves the due scheduled
// and retryable jobs of each queue into its available set, so they are
// eligible at once.
func (s *Store) JobFetch(ctx context.Context, params *store.JobFetchParams) ([]*store.Job, error) {
	if params.Limit < 1 {
		return nil, fmt.Errorf("fetching jobs: Limit is %d, want >= 1", params.Limit)
	}
	if len(params.Queues) == 0 {
		return []*store.Job{}, nil
	}
	now, err := encodeTime(params.Now, "Now")
	if err != nil {
		return nil, fmt.Errorf("fetching jobs: %w", err)
	}
	lease, err := encodeTime(params.LeaseExpiresAt, "LeaseExpiresAt")
	if err != nil {
		return nil, fmt.Errorf("fetching jobs: %w", err)
	}
	args := make([]any, 0, 5+len(params.Queues))
	args = append(args, now, lease, params.Owner, params.Limit, fetchInline)
	for _, q := range params.Queues {
		args = append(args, q)
	}
	raw, err := s.scripts.fetch.Run(ctx, s.client, s.keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("fetching jobs: %w", interpretError(err))
	}
	var jobs []*store.Job
	if len(raw) <= fetchInline {
		jobs, err = decodeJobs(raw)
	} else {
		ids := make([]string, len(raw))
		for i, v := range raw {
			ids[i], _ = v.(string)
		}
		jobs, err = s.readJobs(ctx, ids)
	}
	if err != nil {
		return nil, fmt.Errorf("fetching jobs: %w", err)
	}
	return jobs, nil
}

// readJobs reads jobs by id in one pipeline. The fetch script returns only
// ids because HGETALL is far cheaper for Redis outside Lua; the read is
// not in the script's transaction, but nothing changes a leased job
// except its owner and a cancellation request, which the read then shows.
func (s *Store) readJobs(ctx context.Context, ids []string) ([]*store.Job, error) {
	if len(ids) == 0 {
		return []*store.Job{}, nil
	}
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.prefix+"job:"+id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %d jobs: %w", len(ids), err)
	}
	jobs := make([]*store.Job, len(ids))
	for i, cmd := range cmds {
		if jobs[i], err = jobFromMap(ids[i], cmd.Val()); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// JobSetStateIfRunningMany applies every guarded change in one script.
func (s *Store) JobSetStateIfRunningMany(ctx context.Context, params []*store.JobSetStateParams) ([]bool, error) {
	if len(params) == 0 {
		return []bool{}, nil
	}
	args := make([]any, 0, 1+9*len(params))
	args = append(args, len(params))
	for i, p := range params {
		a, err := setStateArgs(p)
		if err != nil {
			return nil, fmt.Errorf("setting state of job %d (entry %d): %w", p.ID, i, err)
		}
		args = append(args, a...)
	}
	raw, err := s.scripts.setState.Run(ctx, s.client, s.keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("setting job states: %w", interpretError(err))
	}
	if len(raw) != len(params) {
		return nil, fmt.Errorf("setting job states: %d results for %d entries", len(raw), len(params))
	}
	applied := make([]bool, len(raw))
	for i, v := range raw {
		applied[i] = v == 1
	}
	return applied, nil
}

// setStateArgs encodes one entry of the setstate script.
func setStateArgs(p *store.JobSetStateParams) ([]any, error) {
	if p.State == store.StateRunning || !p.State.Valid() {
		return nil, fmt.Errorf("State %q is not a state a running job can move to", p.State)
	}
	now, err := encodeTime(p.Now, "Now")
	if err != nil {
		return nil, err
	}
	var runAt string
	if !p.State.Finalized() {
		at := p.RunAt
		if at.IsZero() {
			at = p.Now
		}
		if p.State == store.StateAvailable && at.After(p.Now) {
			return nil, fmt.Errorf("RunAt %s is after Now %s for state available", at.Format(time.RFC3339Nano), p.Now.Format(time.RFC3339Nano))
		}
		if runAt, err = encodeTime(at, "RunAt"); err != nil {
			return nil, err
		}
	}
	var attemptErr string
	if p.Error != nil {
		e := *p.Error
		e.At = truncTime(e.At)
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encoding Error: %w", err)
		}
		attemptErr = string(b)
	}
	undo := ""
	if p.UndoAttempt {
		undo = "1"
	}
	return []any{p.ID, p.Owner, p.Attempt, string(p.State), now, runAt, attemptErr, string(p.Result), undo}, nil
}

// JobHeartbeat extends every lease of Owner in one script.
func (s *Store) JobHeartbeat(ctx context.Context, params *store.JobHeartbeatParams) (*store.JobHeartbeatResult, error) {
	lease, err := encodeTime(params.LeaseExpiresAt, "LeaseExpiresAt")
	if err != nil {
		return nil, fmt.Errorf("heartbeat of %s: %w", params.Owner, err)
	}
	raw, err := s.scripts.heartbeat.Run(ctx, s.client, s.keys, params.Owner, lease).Slice()
	if err != nil {
		return nil, fmt.Errorf("heartbeat of %s: %w", params.Owner, interpretError(err))
	}
	if len(raw) != 2 {
		return nil, fmt.Errorf("heartbeat of %s: unexpected reply %v", params.Owner, raw)
	}
	n, _ := raw[0].(int64)
	res := &store.JobHeartbeatResult{Extended: int(n)}
	ids, _ := raw[1].([]any)
	for _, v := range ids {
		id, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("heartbeat of %s: unexpected id %v", params.Owner, v)
		}
		res.CancelRequested = append(res.CancelRequested, id)
	}
	return res, nil
}

// JobRescue handles expired leases in one script.
func (s *Store) JobRescue(ctx context.Context, params *store.JobRescueParams) (int, error) {
	if params.Limit < 1 {
		return 0, fmt.Errorf("rescuing jobs: Limit is %d, want >= 1", params.Limit)
	}
	now, err := encodeTime(params.Now, "Now")
	if err != nil {
		return 0, fmt.Errorf("rescuing jobs: %w", err)
	}
	nowJSON, err := json.Marshal(truncTime(params.Now))
	if err != nil {
		return 0, fmt.Errorf("rescuing jobs: %w", err)
	}
	n, err := s.scripts.rescue.Run(ctx, s.client, s.keys, now, string(nowJSON), params.Limit).Int()
	if err != nil {
		return 0, fmt.Errorf("rescuing jobs: %w", interpretError(err))
	}
	return n, nil
}

// JobGet returns one job.
func (s *Store) JobGet(ctx context.Context, id int64) (*store.Job, error) {
	sid := strconv.FormatInt(id, 10)
	raw, err := s.client.HGetAll(ctx, s.prefix+"job:"+sid).Result()
	if err != nil {
		return nil, fmt.Errorf("getting job %d: %w", id, interpretError(err))
	}
	j, err := jobFromMap(sid, raw)
	if err != nil {
		return nil, fmt.Errorf("getting job %d: %w", id, err)
	}
	return j, nil
}

// JobList pages through the id index of the listed states (or of all
// jobs), newest first, filtering by queue and kind inside Redis.
func (s *Store) JobList(ctx context.Context, params *store.JobListParams) ([]*store.Job, error) {
	if params.Limit < 1 {
		return nil, fmt.Errorf("listing jobs: Limit is %d, want >= 1", params.Limit)
	}
	max := "+inf"
	if params.BeforeID > 0 {
		max = "(" + strconv.FormatInt(params.BeforeID, 10)
	}
	var jobs []*store.Job
	for {
		args := []any{max, params.Queue, params.Kind, params.Limit - len(jobs), listBudget}
		for _, st := range params.States {
			if !st.Valid() {
				return nil, fmt.Errorf("listing jobs: unknown state %q in States", st)
			}
			args = append(args, string(st))
		}
		raw, err := s.scripts.list.Run(ctx, s.client, s.keys, args...).Slice()
		if err != nil {
			return nil, fmt.Errorf("listing jobs: %w", interpretError(err))
		}
		if len(raw) != 2 {
			return nil, fmt.Errorf("listing jobs: unexpected reply %v", raw)
		}
		page, err := decodeJobs(raw[1])
		if err != nil {
			return nil, fmt.Errorf("listing jobs: %w", err)
		}
		jobs = append(jobs, page...)
		next, _ := raw[0].(string)
		if next == "" || len(jobs) >= params.Limit {
			break
		}
		max = next
	}
	if jobs == nil {
		jobs = []*store.Job{}
	}
	return jobs, nil
}

// JobCancel cancels a job in one script.
func (s *Store) JobCancel(ctx context.Context, params *store.JobCancelParams) (*store.Job, error) {
	return s.jobScript(ctx, "cancelling", params.ID, params.Now, s.scripts.cancel.Run)
}

// JobRetry makes a job available now in one script.
func (s *Store) JobRetry(ctx context.Context, params *store.JobRetryParams) (*store.Job, error) {
	return s.jobScript(ctx, "retrying", params.ID, params.Now, s.scripts.retry.Run)
}

// JobDelete deletes a job that is not running in one script.
func (s *Store) JobDelete(ctx context.Context, id int64) (*store.Job, error) {
	sid := strconv.FormatInt(id, 10)
	raw, err := s.scripts.delete.Run(ctx, s.client, s.keys, sid).Result()
	if err != nil {
		return nil, fmt.Errorf("deleting job %d: %w", id, interpretError(err))
	}
	j, err := decodeJob(sid, raw)
	if err != nil {
		return nil, fmt.Errorf("deleting job %d: %w", id, err)
	}
	return j, nil
}

// JobDeleteFinalized deletes old finalized jobs in one script, oldest
// first, using the state's index by FinalizedAt.
func (s *Store) JobDeleteFinalized(ctx context.Context, params *store.JobDeleteFinalizedParams) (int, error) {
	if !params.State.Finalized() {
		return 0, fmt.Errorf("deleting finalized jobs: State %q is not a final state", params.State)
	}
	if params.Limit < 1 {
		return 0, fmt.Errorf("deleting finalized jobs: Limit is %d, want >= 1", params.Limit)
	}
	before, err := encodeTime(params.Before, "Before")
	if err != nil {
		return 0, fmt.Errorf("deleting finalized jobs: %w", err)
	}
	n, err := s.scripts.deleteFinalized.Run(ctx, s.client, s.keys, string(params.State), before, params.Limit).Int()
	if err != nil {
		return 0, fmt.Errorf("deleting finalized %s jobs: %w", params.State, interpretError(err))
	}
	return n, nil
}

// jobScript runs a script that takes (id, now) and returns the job's fields.
func (s *Store) jobScript(ctx context.Context, verb string, id int64, nowT time.Time, run func(context.Context, goredis.Scripter, []string, ...any) *goredis.Cmd) (*store.Job, error) {
	now, err := encodeTime(nowT, "Now")
	if err != nil {
		return nil, fmt.Errorf("%s job %d: %w", verb, id, err)
	}
	sid := strconv.FormatInt(id, 10)
	raw, err := run(ctx, s.client, s.keys, sid, now).Result()
	if err != nil {
		return nil, fmt.Errorf("%s job %d: %w", verb, id, interpretError(err))
	}
	j, err := decodeJob(sid, raw)
	if err != nil {
		return nil, fmt.Errorf("%s job %d: %w", verb, id, err)
	}
	return j, nil
}
