package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// JobInsertMany inserts jobs in one script: dependencies checked, unique
// keys checked and taken, ids drawn from the counter, and idle workers
// woken by one PUBLISH per queue that got an available job.
func (s *Store) JobInsertMany(ctx context.Context, params *store.JobInsertManyParams) ([]store.JobInsertResult, error) {
	if len(params.Jobs) == 0 {
		return []store.JobInsertResult{}, nil
	}
	now, err := encodeTime(params.Now, "Now")
	if err != nil {
		return nil, fmt.Errorf("inserting jobs: %w", err)
	}
	args := make([]any, 0, 2+insertFields*len(params.Jobs))
	args = append(args, now, len(params.Jobs))
	for i, p := range params.Jobs {
		if args, err = appendInsertArgs(args, i, p, params); err != nil {
			return nil, fmt.Errorf("inserting job %d of %d (%s): %w", i, len(params.Jobs), p.Kind, err)
		}
	}
	raw, err := s.scripts.insert.Run(ctx, s.client, s.keys, args...).Result()
	if err != nil {
		return nil, fmt.Errorf("inserting jobs: %w", insertError(err, len(params.Jobs)))
	}
	results, err := decodeInsertReply(raw, params.Jobs, params.Now)
	if err != nil {
		return nil, fmt.Errorf("inserting jobs: %w", err)
	}
	return results, nil
}

// insertFields is how many script arguments describe a plain job, and
// insertExtraFields how many more a job with a workflow, RunOnFailure or
// dependencies has (see lua/insertjobs.lua).
const (
	insertFields      = 12
	insertExtraFields = 4
)

// appendInsertArgs appends the script arguments of job i of an insert. It
// refuses an After index that is not an earlier entry.
func appendInsertArgs(args []any, i int, p *store.JobInsertParams, params *store.JobInsertManyParams) ([]any, error) {
	state, at := insertState(p, params.Now)
	runAt, err := encodeTime(at, "RunAt")
	if err != nil {
		return nil, err
	}
	until, err := encodeOptionalTime(p.UniqueUntil, "UniqueUntil")
	if err != nil {
		return nil, err
	}
	args = append(args, p.Kind, p.Queue, p.Priority, -p.Priority, string(p.Args), p.MaxAttempts,
		int64(p.Timeout), string(state), runAt, p.UniqueKey, until)
	if p.Workflow == "" && !p.RunOnFailure && len(p.After) == 0 && len(p.AfterIDs) == 0 {
		return append(args, ""), nil
	}
	rof := ""
	if p.RunOnFailure {
		rof = "1"
	}
	var after, afterIDs []byte
	for k, a := range p.After {
		if a < 0 || a >= i {
			return nil, fmt.Errorf("After index %d is not an earlier entry", a)
		}
		if k > 0 {
			after = append(after, ',')
		}
		after = strconv.AppendInt(after, int64(a), 10)
	}
	for k, id := range p.AfterIDs {
		if k > 0 {
			afterIDs = append(afterIDs, ',')
		}
		afterIDs = strconv.AppendInt(afterIDs, id, 10)
	}
	return append(args, "1", p.Workflow, rof, string(after), string(afterIDs)), nil
}

// insertError interprets the insert script's error: a dependency that
// does not exist is [store.ErrNotFound], naming the entry and the id.
func insertError(err error, n int) error {
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		if _, rest, ok := strings.Cut(rerr.Error(), replyDepMissing+" "); ok {
			var entry int
			var id int64
			if _, serr := fmt.Sscanf(rest, "%d %d", &entry, &id); serr == nil {
				return fmt.Errorf("job %d of %d: AfterIDs: job %d: %w", entry, n, id, store.ErrNotFound)
			}
		}
	}
	return interpretError(err)
}

// decodeInsertReply turns the insert script's reply into one result per
// job of jobs.
func decodeInsertReply(raw any, jobs []*store.JobInsertParams, now time.Time) ([]store.JobInsertResult, error) {
	list, ok := raw.([]any)
	if !ok || len(list) != len(jobs) {
		return nil, fmt.Errorf("unexpected reply %v", raw)
	}
	results := make([]store.JobInsertResult, len(list))
	for i, item := range list {
		entry, _ := item.([]any)
		switch len(entry) {
		case 1:
			idStr, _ := entry[0].(string)
			id, err := strconv.ParseInt(idStr, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("unexpected id %q", idStr)
			}
			results[i] = store.JobInsertResult{Job: newJob(id, jobs[i], now)}
		case 2, 3:
			j, err := decodeIDJob(entry[:2])
			if err != nil {
				return nil, err
			}
			results[i] = store.JobInsertResult{Job: j, Duplicate: len(entry) == 2}
		default:
			return nil, fmt.Errorf("unexpected reply %v", item)
		}
	}
	return results, nil
}

// insertState is the state and RunAt of a new job without dependencies:
// scheduled at its RunAt when that is after now, else available at now.
func insertState(p *store.JobInsertParams, now time.Time) (store.State, time.Time) {
	if p.RunAt.After(now) {
		return store.StateScheduled, p.RunAt
	}
	return store.StateAvailable, now
}

// newJob is the row JobInsertMany just wrote for a job without
// dependencies, built without reading it back.
func newJob(id int64, p *store.JobInsertParams, now time.Time) *store.Job {
	state, runAt := insertState(p, now)
	return &store.Job{
		ID:           id,
		Kind:         p.Kind,
		Queue:        p.Queue,
		Priority:     p.Priority,
		Args:         p.Args,
		State:        state,
		MaxAttempts:  p.MaxAttempts,
		Timeout:      p.Timeout,
		EnqueuedAt:   truncTime(now),
		RunAt:        truncTime(runAt),
		UniqueKey:    p.UniqueKey,
		UniqueUntil:  truncTime(p.UniqueUntil),
		Workflow:     p.Workflow,
		RunOnFailure: p.RunOnFailure,
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

// JobGetMany reads the jobs in one pipeline, leaving out the ids that do
// not exist.
func (s *Store) JobGetMany(ctx context.Context, ids []int64) ([]*store.Job, error) {
	if len(ids) == 0 {
		return []*store.Job{}, nil
	}
	cmds := make([]*goredis.MapStringStringCmd, len(ids))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.prefix+"job:"+strconv.FormatInt(id, 10))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("getting %d jobs: %w", len(ids), interpretError(err))
	}
	jobs := make([]*store.Job, 0, len(ids))
	for i, cmd := range cmds {
		fields := cmd.Val()
		if len(fields) == 0 {
			continue
		}
		j, err := jobFromMap(strconv.FormatInt(ids[i], 10), fields)
		if err != nil {
			return nil, fmt.Errorf("getting %d jobs: %w", len(ids), err)
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// JobList pages through the id index of the listed states (or of all
// jobs, or of the workflow's jobs), newest first, filtering by queue, kind
// and state inside Redis.
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
		args := []any{max, params.Queue, params.Kind, params.Workflow, params.Limit - len(jobs), listBudget}
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

// JobDelete deletes a job that is not running in one script. The jobs
// waiting for a job deleted before it was finalized are told as if it was
// cancelled; those cancelled get this process's clock as FinalizedAt
// (JobDelete has no Now).
func (s *Store) JobDelete(ctx context.Context, id int64) (*store.Job, error) {
	sid := strconv.FormatInt(id, 10)
	now, err := encodeTime(time.Now(), "the clock")
	if err != nil {
		return nil, fmt.Errorf("deleting job %d: %w", id, err)
	}
	raw, err := s.scripts.delete.Run(ctx, s.client, s.keys, sid, now).Result()
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
