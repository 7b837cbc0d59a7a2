package store

// DepsPolicy documents how stores treat jobs that wait for other jobs (the
// building block of chains, chords and every other workflow). It is a
// documentation anchor; it has no value.
//
// A job inserted with dependencies (JobInsertParams.After or AfterIDs) is
// in [StateWaiting] with DepsLeft = the number of its dependencies not
// finalized yet (dependencies already finalized at insert count as
// finished at once). Whenever a job reaches a final state — through
// JobSetStateIfRunningMany, JobRescue or JobCancel — every job waiting for
// it is updated in the same atomic step:
//
//   - the dependency completed, or the waiting job has RunOnFailure:
//     DepsLeft is decremented; at zero the job becomes available at the
//     finishing call's Now (scheduled if its own RunAt is later);
//   - otherwise (discarded or cancelled, and RunOnFailure false): the
//     waiting job is cancelled at once (FinalizedAt = Now, an AttemptError
//     at attempt 0 names the dependency and its state), which in turn
//     finishes it for the jobs waiting on it, recursively;
//   - JobDelete of a job that is not finalized counts as that job being
//     cancelled for the jobs waiting on it.
//
// Counting is exact under concurrency and across processes: when several
// dependencies of one job finish in the same call, or in concurrent calls,
// the job is decremented once per dependency and becomes available exactly
// once. A dependency counts once per waiter, ever: a dependency that is
// retried (JobRetry) and finishes again does not touch its waiters a second
// time. A waiting job is never fetched. JobCancel of a waiting job cancels
// it (and its own dependents, as above); JobRetry of a waiting job makes it
// available at once, ignoring its dependencies.
//
// Retention: a finalized dependency may be deleted by JobDeleteFinalized
// before the job waiting on it runs; the count is not affected (it was
// taken when the dependency finished), but its result is then gone.
type DepsPolicy struct{}
