// Package postgres is the PostgreSQL job store: many processes, in many
// containers, share one queue in one schema of one database.
//
//	s, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), nil)
//	...
//	defer s.Close()
//	err = s.Migrate(ctx) // or `boiler migrate`
//
// # Tables
//
// Migrate creates a schema (Options.Schema, default "boiler") holding the
// jobs table, who waits for whom (job_deps), the per-queue counts, the
// paused queues, the worker registry, the leader leases, the periodic jobs
// and the applied migration versions. The migrations are embedded SQL
// files applied in one transaction under an advisory lock, so containers
// starting together migrate once. Stores in different schemas are
// independent queues: the tests give each test a schema of its own.
//
// # How the Store methods map to SQL
//
//   - JobFetch is one statement (the fetch_jobs function): per queue, in the
//     given order, an index range scan with FOR UPDATE SKIP LOCKED, so
//     concurrent workers never wait for each other nor take the same job.
//   - JobSetStateIfRunningMany is one UPDATE joined to unnest() arrays,
//     guarded per row by (id, lease owner, attempt).
//   - JobInsertMany is one INSERT ... SELECT FROM unnest(); unique keys use
//     a partial unique index on the key's holder, and a new job with the
//     key of a stale holder (finalized, or past its window) takes the key
//     from it. JobInsertManyTx does the same inside the caller's pgx.Tx, so
//     a job exists if and only if the caller's transaction commits.
//   - Dependencies (store.DepsPolicy): a job with After or AfterIDs is
//     inserted waiting, then, in the same transaction, its dependencies'
//     rows are locked and marked has_dependents, the unfinished ones are
//     counted (deps_left) and recorded in job_deps. Every statement that
//     ends jobs (outcomes, rescue, cancel, delete) hands those with
//     has_dependents to finish_deps in its own transaction, which
//     decrements, releases or cancels the waiting jobs under their row
//     locks, down a chain. Jobs nobody waits for pay nothing.
//   - QueueStats reads counts kept per queue and state: statement triggers
//     append each statement's net change to a delta table that nothing
//     locks (a counter row per state would serialize the workers), and
//     QueueStats and JobRescue fold the deltas in. Its cost does not grow
//     with the number of jobs.
//   - JobList by state either walks the newest jobs down jobs_pkey or reads
//     the states' rows from their partial index and sorts them, whichever
//     the kept counts say is cheaper (the planner's statistics cannot tell
//     where a state lies in ID order).
//   - LeaderElect is one upsert whose WHERE lets it take only a free,
//     expired or own lease; PeriodicFire claims its tick with a
//     conditional UPDATE in the transaction that inserts the tick's job.
//   - Times are timestamptz (microseconds); pgx.ErrNoRows becomes
//     store.ErrNotFound in one place.
//
// Fetches and outcomes commit with synchronous_commit = off unless
// Options.SynchronousAcks is set; inserts always wait for the disk. See
// Options.SynchronousAcks for what that trades.
//
// # Wake-ups
//
// A statement trigger on the jobs table sends pg_notify on the channel
// "<schema>.jobs_inserted" with the queue's name, at commit. ListenInserts
// serves every subscriber of a Store from one dedicated connection, which
// reconnects with backoff after a server restart.
//
// # Server restarts
//
// A restart leaves dead connections in the pool; each store call retries
// a statement the server refused as it shut the session down (SQLSTATE
// 57P01 and kin) on another connection, so callers see no error once the
// server is back.
//
// # URL parameters
//
// Open reads and removes two parameters of a postgres:// URL, for callers
// that only have a URL (the CLI's --store): boiler_schema=NAME and
// boiler_synchronous_acks=true. Every other parameter goes to pgx
// (sslmode, pool_max_conns, application_name, ...).
package postgres
