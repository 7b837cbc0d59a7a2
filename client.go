package boiler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/doubleboiler/boiler/store"
)

// defaultListLimit is JobList's page size when the params give none.
const defaultListLimit = 100

// ClientOptions configure a [Client]. The zero value is ready to use.
type ClientOptions struct {
	// Clock returns the current time: the enqueue time of jobs and the
	// base of RunIn and UniqueFor. Times are kept in UTC, truncated to
	// microseconds. Default time.Now.
	Clock func() time.Time
	// NoGroupCommit turns group commit off: each Enqueue and EnqueueRaw
	// then makes its own store call (its own transaction). Default false:
	// single-job enqueues that arrive while another is being written wait
	// for it and are then written together in one store call, at most
	// 1,000 at a time, so they share one commit. A lone caller is written
	// at once. Each caller still gets its own result, and unique keys
	// behave as if the jobs were inserted one after the other; a store
	// error fails every job of the shared call. EnqueueMany and
	// EnqueueRawMany always make their own call.
	NoGroupCommit bool
}

// Client enqueues jobs and workflows ([Client.EnqueueWorkflow]) and
// manages them (get, list, cancel, retry, delete, pause a queue). It is
// safe for concurrent use.
//
// A client built by [NewClient] writes to a store; one built by
// [NewInlineClient] runs each job at once instead, for unit tests.
type Client struct {
	store store.Store // nil for an inline client
	clock func() time.Time
	group *groupCommitter // nil when group commit is off

	reg      *Registry    // inline client only
	inlineID atomic.Int64 // inline client only: synthetic job ids
}

// NewClient returns a client that enqueues jobs into s. The store's schema
// must exist (see store.Store.Migrate).
func NewClient(s store.Store, opts *ClientOptions) (*Client, error) {
	if s == nil {
		return nil, errors.New("new client: the store is nil")
	}
	return newClient(s, nil, opts), nil
}

func newClient(s store.Store, reg *Registry, opts *ClientOptions) *Client {
	if opts == nil {
		opts = &ClientOptions{}
	}
	clock := opts.Clock
	if clock == nil {
		clock = time.Now
	}
	c := &Client{store: s, reg: reg, clock: clock}
	if s != nil && !opts.NoGroupCommit {
		c.group = newGroupCommitter(s)
	}
	return c
}

// now is the client's clock in UTC, truncated to microseconds (what every
// store keeps).
func (c *Client) now() time.Time { return c.clock().UTC().Truncate(time.Microsecond) }

// EnqueueResult is the outcome of enqueueing one job.
type EnqueueResult struct {
	// Job is the inserted job, or, when Duplicate is set, the existing
	// job holding the same unique key.
	Job *JobRow
	// Duplicate reports that the job was not inserted because of its
	// unique key.
	Duplicate bool
}

// EnqueueParams is one job of [Client.EnqueueMany].
type EnqueueParams struct {
	// Args are the job's args, encoded as JSON; Args.Kind() is its kind.
	Args JobArgs
	// Options override the args' own options; nil means none.
	Options *EnqueueOptions
}

// EnqueueRawParams is one job of [Client.EnqueueRawMany].
type EnqueueRawParams struct {
	// Kind is the job's kind.
	Kind string
	// Args are the job's args as JSON; empty means {}.
	Args json.RawMessage
	// Options are the job's options; nil means the defaults.
	Options *EnqueueOptions
}

// Enqueue adds one job. Its options are the defaults, then the args' own
// options if they implement [JobArgsWithOptions], then opts (which may be
// nil). A job with a unique key already held by a live job is not
// inserted: the result carries the existing job and Duplicate.
//
// Concurrent calls may share one store call (see
// ClientOptions.NoGroupCommit). If ctx ends while the job waits for its
// turn, Enqueue returns ctx.Err() and the job is not inserted; if it ends
// once the shared call has left, Enqueue returns ctx.Err() at once but
// the job may still be inserted.
func (c *Client) Enqueue(ctx context.Context, args JobArgs, opts *EnqueueOptions) (*EnqueueResult, error) {
	now := c.now()
	kind, row, err := typedInsertParams(EnqueueParams{Args: args, Options: opts}, now)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", kind, err)
	}
	return c.insertOne(ctx, row, now)
}

// EnqueueMany adds jobs in one atomic step (one round trip to the store)
// and returns one result per job, in order. If any job is invalid, none is
// inserted.
func (c *Client) EnqueueMany(ctx context.Context, params []EnqueueParams) ([]EnqueueResult, error) {
	now := c.now()
	rows := make([]*store.JobInsertParams, len(params))
	for i, p := range params {
		kind, row, err := typedInsertParams(p, now)
		if err != nil {
			return nil, fmt.Errorf("enqueue job %d of %d (%s): %w", i+1, len(params), kind, err)
		}
		rows[i] = row
	}
	return c.insertMany(ctx, rows, now)
}

// EnqueueRaw adds one job given by its kind and JSON args, for callers
// that do not have the args' Go type (a command line, an HTTP API). Empty
// args mean {}. opts may be nil.
func (c *Client) EnqueueRaw(ctx context.Context, kind string, args json.RawMessage, opts *EnqueueOptions) (*EnqueueResult, error) {
	now := c.now()
	row, err := rawInsertParams(EnqueueRawParams{Kind: kind, Args: args, Options: opts}, now)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", kindName(kind), err)
	}
	return c.insertOne(ctx, row, now)
}

// EnqueueRawMany is [Client.EnqueueMany] for raw jobs.
func (c *Client) EnqueueRawMany(ctx context.Context, params []EnqueueRawParams) ([]EnqueueResult, error) {
	now := c.now()
	rows := make([]*store.JobInsertParams, len(params))
	for i, p := range params {
		row, err := rawInsertParams(p, now)
		if err != nil {
			return nil, fmt.Errorf("enqueue job %d of %d (%s): %w", i+1, len(params), kindName(p.Kind), err)
		}
		rows[i] = row
	}
	return c.insertMany(ctx, rows, now)
}

// kindName is kind for an error message.
func kindName(kind string) string {
	if kind == "" {
		return "(empty kind)"
	}
	return kind
}

// typedInsertParams encodes p's args and merges its options. It returns
// the kind (for error messages) even on error.
func typedInsertParams(p EnqueueParams, now time.Time) (string, *store.JobInsertParams, error) {
	if p.Args == nil {
		return "(nil args)", nil, errors.New("args are nil")
	}
	kind := p.Args.Kind()
	var opts EnqueueOptions
	if withOpts, ok := p.Args.(JobArgsWithOptions); ok {
		opts = withOpts.EnqueueOptions()
	}
	args, err := json.Marshal(p.Args)
	if err != nil {
		return kindName(kind), nil, fmt.Errorf("encoding args: %w", err)
	}
	row, err := opts.merge(p.Options).insertParams(kind, args, now)
	return kindName(kind), row, err
}

// rawInsertParams checks and compacts p's JSON args and applies its
// options to the defaults.
func rawInsertParams(p EnqueueRawParams, now time.Time) (*store.JobInsertParams, error) {
	args := []byte("{}")
	if len(bytes.TrimSpace(p.Args)) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, p.Args); err != nil {
			return nil, fmt.Errorf("args are not valid JSON: %w", err)
		}
		args = buf.Bytes()
	}
	return EnqueueOptions{}.merge(p.Options).insertParams(p.Kind, args, now)
}

// insertOne writes one job, or runs it at once for an inline client.
func (c *Client) insertOne(ctx context.Context, row *store.JobInsertParams, now time.Time) (*EnqueueResult, error) {
	if c.store == nil {
		res, err := c.runInline(ctx, row)
		if err != nil {
			return nil, fmt.Errorf("enqueue %s: %w", row.Kind, err)
		}
		return res, nil
	}
	if c.group != nil {
		res, err := c.group.insert(ctx, row, now)
		if err != nil {
			return nil, fmt.Errorf("enqueue %s: %w", row.Kind, err)
		}
		return &EnqueueResult{Job: res.Job, Duplicate: res.Duplicate}, nil
	}
	res, err := c.store.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: []*store.JobInsertParams{row}, Now: now})
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", row.Kind, err)
	}
	return &EnqueueResult{Job: res[0].Job, Duplicate: res[0].Duplicate}, nil
}

// insertMany writes jobs in one step, or runs them one after the other for
// an inline client.
func (c *Client) insertMany(ctx context.Context, rows []*store.JobInsertParams, now time.Time) ([]EnqueueResult, error) {
	out := make([]EnqueueResult, len(rows))
	if c.store == nil {
		for i, row := range rows {
			res, err := c.runInline(ctx, row)
			if err != nil {
				return nil, fmt.Errorf("enqueue job %d of %d (%s): %w", i+1, len(rows), row.Kind, err)
			}
			out[i] = *res
		}
		return out, nil
	}
	res, err := c.store.JobInsertMany(ctx, &store.JobInsertManyParams{Jobs: rows, Now: now})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d jobs: %w", len(rows), err)
	}
	for i, r := range res {
		out[i] = EnqueueResult{Job: r.Job, Duplicate: r.Duplicate}
	}
	return out, nil
}

// JobGet returns the job with id ([store.ErrNotFound] if there is none).
func (c *Client) JobGet(ctx context.Context, id int64) (*JobRow, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	job, err := c.store.JobGet(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("getting job %d: %w", id, err)
	}
	return job, nil
}

// JobList returns jobs matching params, newest first. params may be nil; a
// zero Limit means 100.
func (c *Client) JobList(ctx context.Context, params *store.JobListParams) ([]*JobRow, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	p := store.JobListParams{}
	if params != nil {
		p = *params
	}
	if p.Limit == 0 {
		p.Limit = defaultListLimit
	}
	if p.Limit < 0 {
		return nil, fmt.Errorf("listing jobs: Limit must not be negative, got %d", p.Limit)
	}
	for _, s := range p.States {
		if !s.Valid() {
			return nil, fmt.Errorf("listing jobs: unknown state %q (states: %v)", s, store.States)
		}
	}
	jobs, err := c.store.JobList(ctx, &p)
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	return jobs, nil
}

// JobCancel cancels a job: a pending job at once, a running job at its
// worker's next heartbeat (the handler's context is cancelled). A
// finalized job is unchanged. It returns the job as it is after the call.
func (c *Client) JobCancel(ctx context.Context, id int64) (*JobRow, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	job, err := c.store.JobCancel(ctx, &store.JobCancelParams{ID: id, Now: c.now()})
	if err != nil {
		return nil, fmt.Errorf("cancelling job %d: %w", id, err)
	}
	return job, nil
}

// JobRetry makes a job that is not running available now: a discarded or
// cancelled job runs again (with one more attempt if it had none left), a
// scheduled or retryable one runs at once.
func (c *Client) JobRetry(ctx context.Context, id int64) (*JobRow, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	job, err := c.store.JobRetry(ctx, &store.JobRetryParams{ID: id, Now: c.now()})
	if err != nil {
		return nil, fmt.Errorf("retrying job %d: %w", id, err)
	}
	return job, nil
}

// JobDelete deletes a job that is not running and returns it as it was.
func (c *Client) JobDelete(ctx context.Context, id int64) (*JobRow, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	job, err := c.store.JobDelete(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("deleting job %d: %w", id, err)
	}
	return job, nil
}

// QueuePause stops workers from fetching the queue's jobs; running jobs
// finish.
func (c *Client) QueuePause(ctx context.Context, queue string) error {
	if c.store == nil {
		return errInlineClientNoDB
	}
	if err := validateQueueName(queue); err != nil {
		return fmt.Errorf("pausing queue: %w", err)
	}
	if err := c.store.QueuePause(ctx, queue); err != nil {
		return fmt.Errorf("pausing queue %q: %w", queue, err)
	}
	return nil
}

// QueueResume undoes QueuePause.
func (c *Client) QueueResume(ctx context.Context, queue string) error {
	if c.store == nil {
		return errInlineClientNoDB
	}
	if err := validateQueueName(queue); err != nil {
		return fmt.Errorf("resuming queue: %w", err)
	}
	if err := c.store.QueueResume(ctx, queue); err != nil {
		return fmt.Errorf("resuming queue %q: %w", queue, err)
	}
	return nil
}

// QueueStats returns each queue's job counts by state, whether it is
// paused, and when its oldest available job became due.
func (c *Client) QueueStats(ctx context.Context) ([]*store.QueueStat, error) {
	if c.store == nil {
		return nil, errInlineClientNoDB
	}
	stats, err := c.store.QueueStats(ctx, &store.QueueStatsParams{Now: c.now()})
	if err != nil {
		return nil, fmt.Errorf("queue stats: %w", err)
	}
	return stats, nil
}
