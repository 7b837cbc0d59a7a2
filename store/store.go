// Package store defines the seam between the job queue and its backends.
//
// Every backend (store/sqlite, store/postgres, store/redis) implements
// [Store] with the same semantics, pinned by the conformance suite in
// store/storetest. The queue's logic (backoff, which state a failed job goes
// to, weights between queues) lives in the boiler package; a store only
// applies state changes atomically and guarded, and answers queries.
//
// Conventions every method follows:
//
//   - Time comes from the caller (a Now field in the params), never from the
//     store's own clock, so tests control it and every store agrees. Stores
//     keep times with at least microsecond precision and return them in UTC.
//   - A job that does not exist is [ErrNotFound] (wrapped); callers use
//     errors.Is. Each backend translates its own "no rows" in one place.
//   - State changes out of "running" are guarded by the lease: the job's ID,
//     its lease owner and its attempt number must all still match, so a
//     worker whose lease was rescued cannot overwrite a newer state.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) when a job does not exist.
var ErrNotFound = errors.New("job not found")

// ErrJobRunning is returned (wrapped) by operations refused on a running job.
var ErrJobRunning = errors.New("job is running")

// Store is a durable job queue backend.
//
// Implementations must be safe for concurrent use by many goroutines, and
// (except an in-memory store) by many processes sharing the same database.
type Store interface {
	// Migrate creates or upgrades the schema. It is safe to call repeatedly
	// and from several processes at once.
	Migrate(ctx context.Context) error

	// Close releases the store's connections.
	Close() error

	// JobInsertMany inserts jobs in one atomic step and returns one result
	// per params entry, in order. A job whose RunAt is after Now is
	// scheduled, otherwise available. A job whose UniqueKey is held by a
	// live job (see JobInsertParams.UniqueKey) is not inserted: its result
	// carries the existing job and Duplicate set. Two entries of the same
	// call with the same key behave as if inserted one after the other.
	JobInsertMany(ctx context.Context, params *JobInsertManyParams) ([]JobInsertResult, error)

	// JobFetch leases up to Limit jobs to Owner. Eligible jobs are pending
	// (available, or scheduled or retryable with RunAt <= Now) in a queue
	// of Queues that is not paused. Order: Queues in the given order (every
	// eligible job of Queues[0] before any of Queues[1]), then Priority
	// descending, then RunAt, then ID. Each fetched job becomes running
	// with Attempt incremented, AttemptedAt = Now, LeaseOwner = Owner and
	// LeaseExpiresAt as given; the returned jobs show that new state. Two
	// concurrent fetches never return the same job.
	JobFetch(ctx context.Context, params *JobFetchParams) ([]*Job, error)

	// JobSetStateIfRunningMany moves running jobs out of running, each only
	// if it is still running under the given owner and attempt. It returns,
	// per entry, whether the change was applied (false: the lease was lost,
	// for example rescued after it expired). See JobSetStateParams for what
	// each target state means.
	JobSetStateIfRunningMany(ctx context.Context, params []*JobSetStateParams) ([]bool, error)

	// JobHeartbeat extends the lease of every job Owner is running to
	// LeaseExpiresAt, and reports which of them a person asked to cancel.
	JobHeartbeat(ctx context.Context, params *JobHeartbeatParams) (*JobHeartbeatResult, error)

	// JobRescue handles up to Limit running jobs whose lease expired before
	// Now (their worker died or lost the store): each gets an AttemptError
	// saying so (the attempt counts) and becomes cancelled if cancellation
	// was requested, discarded if Attempt >= MaxAttempts, else available at
	// Now. The lease fields are cleared. It returns how many it rescued.
	JobRescue(ctx context.Context, params *JobRescueParams) (int, error)

	// JobGet returns one job.
	JobGet(ctx context.Context, id int64) (*Job, error)

	// JobList returns jobs matching the filters, newest (highest ID) first.
	JobList(ctx context.Context, params *JobListParams) ([]*Job, error)

	// JobCancel cancels a job: a pending job becomes cancelled at once; a
	// running job gets CancelRequested (its worker cancels it at the next
	// heartbeat, and a rescue cancels it); a finalized job is unchanged.
	// It returns the job as it is after the call.
	JobCancel(ctx context.Context, params *JobCancelParams) (*Job, error)

	// JobRetry makes a job that is not running available at Now: a
	// discarded or cancelled job runs again, a scheduled or retryable one
	// runs now. If Attempt >= MaxAttempts, MaxAttempts becomes Attempt+1 so
	// the retry gets one attempt. FinalizedAt and CancelRequested are
	// cleared. A running job is [ErrJobRunning].
	JobRetry(ctx context.Context, params *JobRetryParams) (*Job, error)

	// JobDelete deletes a job that is not running (a running job is
	// [ErrJobRunning]) and returns it as it was.
	JobDelete(ctx context.Context, id int64) (*Job, error)

	// JobDeleteFinalized deletes up to Limit jobs in State (a final state)
	// whose FinalizedAt is before Before, and returns how many.
	JobDeleteFinalized(ctx context.Context, params *JobDeleteFinalizedParams) (int, error)

	// QueuePause stops JobFetch from returning jobs of the queue (jobs
	// already running finish). Pausing a paused or unknown queue is fine:
	// a paused queue is listed by QueueStats even with no jobs.
	QueuePause(ctx context.Context, queue string) error

	// QueueResume undoes QueuePause. Resuming a queue that is not paused
	// is fine.
	QueueResume(ctx context.Context, queue string) error

	// QueueStats returns one entry per queue that has jobs or is paused,
	// sorted by name.
	QueueStats(ctx context.Context, params *QueueStatsParams) ([]*QueueStat, error)

	// JobGetMany returns the jobs with the given IDs, in the order of ids;
	// IDs that do not exist are left out (no error). A workflow's callback
	// reads its dependencies' results with it.
	JobGetMany(ctx context.Context, ids []int64) ([]*Job, error)

	// WorkerBeat records that a worker process is alive: it inserts or
	// replaces the entry with Info.ID.
	WorkerBeat(ctx context.Context, info *WorkerInfo) error

	// WorkerList returns every recorded worker, sorted by ID.
	WorkerList(ctx context.Context) ([]*WorkerInfo, error)

	// WorkerDelete deletes the worker with params.ID when it is set (a
	// worker's clean stop), otherwise every worker whose HeartbeatAt is
	// before params.HeartbeatBefore. It returns how many it deleted.
	WorkerDelete(ctx context.Context, params *WorkerDeleteParams) (int, error)

	// LeaderElect makes Holder the leader called Name until ExpiresAt if
	// nobody holds it, its lease expired before Now, or Holder already
	// holds it (a renewal). It returns whether Holder is the leader after
	// the call. Two concurrent calls never both win an expired lease.
	LeaderElect(ctx context.Context, params *LeaderElectParams) (bool, error)

	// LeaderResign gives up the leadership Name if Holder holds it, so
	// another holder can win it at once; otherwise it does nothing.
	LeaderResign(ctx context.Context, params *LeaderResignParams) error

	// PeriodicUpsert inserts a periodic job or updates the definition of
	// the one with the same Name: its Spec, job template, CatchUp, Source
	// and UpdatedAt. LastTick, NextTick and LastJobID of an existing entry
	// are kept. It returns the entry as stored.
	PeriodicUpsert(ctx context.Context, p *PeriodicJob) (*PeriodicJob, error)

	// PeriodicList returns every periodic job, sorted by Name.
	PeriodicList(ctx context.Context) ([]*PeriodicJob, error)

	// PeriodicDelete deletes the periodic job Name ([ErrNotFound] if
	// there is none). Jobs it already enqueued are untouched.
	PeriodicDelete(ctx context.Context, name string) error

	// PeriodicFire enqueues one tick of the periodic job Name, atomically
	// and at most once per tick: if the entry exists and its LastTick is
	// before Tick (or zero), it inserts Job (as JobInsertMany would, at
	// Now) and sets LastTick = Tick, NextTick and LastJobID, and returns
	// the inserted (or, for a held unique key, the existing) job with
	// Fired true. Otherwise (the tick or a later one was already fired,
	// for example by another leader) it changes nothing and returns
	// Fired false. A missing entry is [ErrNotFound]. With Job nil it
	// records the tick without inserting anything (a skipped tick) and
	// returns Fired true and a nil Job.
	PeriodicFire(ctx context.Context, params *PeriodicFireParams) (*PeriodicFireResult, error)

	// PeriodicSetNext records NextTick of the periodic job Name (for
	// display; the scheduler computes it from Spec), without firing.
	// A missing entry is [ErrNotFound].
	PeriodicSetNext(ctx context.Context, name string, next time.Time) error
}

// Listener is implemented by stores that can wake idle workers as soon as a
// job is inserted, so a job enqueued into an idle system starts in
// milliseconds rather than at the next poll. Workers poll anyway; a store
// without notifications simply does not implement it.
type Listener interface {
	// ListenInserts returns a channel that receives the queue name of
	// inserted jobs (possibly coalesced: one receive may stand for many
	// inserts, and sends never block the inserter). The channel is closed
	// when ctx is done.
	ListenInserts(ctx context.Context) (<-chan string, error)
}

// JobInsertParams describes one job to insert. The caller has validated it
// and filled every default.
type JobInsertParams struct {
	Kind        string
	Queue       string
	Priority    int
	Args        json.RawMessage // valid JSON
	MaxAttempts int             // >= 1
	Timeout     time.Duration   // 0: the worker's default
	RunAt       time.Time       // after Now: scheduled; otherwise available at Now
	// UniqueKey, when set, makes the job unique: while another job with
	// the same key is live, this one is not inserted. A job holds its key
	// until UniqueUntil if that is set (whatever its state, so a completed
	// job still blocks duplicates within the window), or, when UniqueUntil
	// is zero, until it is finalized.
	UniqueKey   string
	UniqueUntil time.Time

	// Workflow, when set, tags the job as a member of the workflow with
	// that ID (JobListParams.Workflow finds them).
	Workflow string
	// After lists earlier entries of the same JobInsertMany call (indexes
	// into Jobs, each smaller than this entry's own) that this job waits
	// for: it is inserted waiting (see [StateWaiting]) and its Deps are
	// their IDs. Duplicate indexes count once. See [DepsPolicy].
	After []int
	// AfterIDs lists existing jobs this job waits for, like After. A job
	// that is already finalized counts as finished at once (completed, or
	// failed if discarded or cancelled); an ID that does not exist is an
	// error naming it.
	AfterIDs []int64
	// RunOnFailure, for a job with dependencies, makes it run once every
	// dependency is finalized, whatever their final states. When false (the
	// default) the job runs only if every dependency completed: the first
	// dependency discarded, cancelled or deleted cancels it (see
	// [DepsPolicy]).
	RunOnFailure bool
}

// JobInsertManyParams are the params of Store.JobInsertMany.
type JobInsertManyParams struct {
	Jobs []*JobInsertParams
	Now  time.Time // EnqueuedAt of the new jobs, and the unique-window clock
}

// JobInsertResult is one job's outcome of Store.JobInsertMany.
type JobInsertResult struct {
	Job       *Job
	Duplicate bool // Job is the existing job that holds the unique key
}

// JobFetchParams are the params of Store.JobFetch.
type JobFetchParams struct {
	Queues         []string // in strict order
	Limit          int      // >= 1
	Owner          string   // the worker's unique id
	Now            time.Time
	LeaseExpiresAt time.Time
}

// JobSetStateParams moves one running job to State. The job's ID, Owner
// and Attempt guard the change.
//
//   - completed, discarded, cancelled: final; FinalizedAt = Now.
//   - retryable: due again at RunAt.
//   - available (a release, for example at shutdown) and scheduled (a
//     snooze): due at RunAt (available requires RunAt <= Now).
//
// Error, when set, is appended to the job's Errors. Result, when set, is
// stored. UndoAttempt decrements Attempt (a snooze or a release is not an
// attempt). The lease fields are cleared in every case.
type JobSetStateParams struct {
	ID          int64
	Owner       string
	Attempt     int
	State       State
	Now         time.Time
	RunAt       time.Time
	Error       *AttemptError
	Result      json.RawMessage
	UndoAttempt bool
}

// JobHeartbeatParams are the params of Store.JobHeartbeat.
type JobHeartbeatParams struct {
	Owner          string
	LeaseExpiresAt time.Time
}

// JobHeartbeatResult is the outcome of Store.JobHeartbeat.
type JobHeartbeatResult struct {
	Extended        int     // how many leases were extended
	CancelRequested []int64 // running jobs of Owner a person asked to cancel
}

// JobRescueParams are the params of Store.JobRescue.
type JobRescueParams struct {
	Now   time.Time
	Limit int // >= 1
}

// JobListParams filters Store.JobList. Zero fields do not filter.
type JobListParams struct {
	States   []State
	Queue    string
	Kind     string
	Workflow string // only members of this workflow
	BeforeID int64  // cursor: only jobs with ID < BeforeID (0: from the newest)
	Limit    int    // >= 1
}

// JobCancelParams are the params of Store.JobCancel.
type JobCancelParams struct {
	ID  int64
	Now time.Time // FinalizedAt of a pending job
}

// JobRetryParams are the params of Store.JobRetry.
type JobRetryParams struct {
	ID  int64
	Now time.Time
}

// JobDeleteFinalizedParams are the params of Store.JobDeleteFinalized.
type JobDeleteFinalizedParams struct {
	State  State // completed, discarded or cancelled
	Before time.Time
	Limit  int // >= 1
}

// QueueStatsParams are the params of Store.QueueStats.
type QueueStatsParams struct {
	Now time.Time
}

// QueueStat describes one queue.
//
// Counts has an entry for every state (zero included). Its available
// count includes scheduled and retryable jobs already due at Now (they
// can be fetched), and its scheduled and retryable counts hold only those
// not yet due. OldestAvailableAt is the smallest RunAt among jobs that can
// be fetched now (zero when there are none): Now minus it is how long the
// oldest job has waited.
type QueueStat struct {
	Name              string          `json:"name"`
	Paused            bool            `json:"paused"`
	Counts            map[State]int64 `json:"counts"`
	OldestAvailableAt time.Time       `json:"oldest_available_at,omitzero"`
}
