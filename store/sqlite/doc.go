// Package sqlite is the embedded job store: one SQLite file, no server,
// through the pure-Go driver modernc.org/sqlite (the binary builds with
// CGO_ENABLED=0). It is the default store of boiler.
//
// # URLs
//
// The CLI and storeurl name a database with one of these forms:
//
//	sqlite:///abs/path/boiler.db   absolute path (three slashes)
//	sqlite://relative/boiler.db    path relative to the working directory
//
// with optional [Options] in the query: ?busy_timeout=10s&max_readers=8.
//
// [Open] takes the path itself; it creates the file if it does not exist
// (its directory must) and does not create the schema: call
// [Store.Migrate], which is safe to run from several processes at once.
//
// # One writer
//
// SQLite allows one writer at a time per file. Each [Store] has one write
// connection, so the writes of one process (inserts, fetches, completions,
// heartbeats) queue in turn instead of racing for the file lock, and each
// is a BEGIN IMMEDIATE transaction, which takes the write lock up front:
// two transactions never deadlock upgrading a read lock to a write lock.
// Reads (JobGet, JobList, QueueStats) use a separate pool of read-only
// connections; in WAL mode they see the last commit and never block the
// writer. A background goroutine of each [Store] checkpoints the WAL
// shortly after writes, on a connection of its own, so commits rarely pay
// for a checkpoint (see checkpoint.go).
//
// # Several processes
//
// Several processes may open the same file: typically `boiler work` runs
// the workers while `boiler enqueue` adds jobs from a shell. A write that
// finds the file locked by another process waits up to
// [Options.BusyTimeout] (default 5s) before it fails with SQLITE_BUSY. Each
// transaction is short (a fetch or a batch of completions is one), so the
// wait is normally milliseconds. The file must be on a local file system:
// WAL mode needs shared memory between the processes, which network file
// systems do not provide.
//
// [Store.ListenInserts] hears the jobs inserted through the same [Store]
// at once; jobs inserted by another process are found by the worker's
// poll.
//
// # Schema
//
// Times are INTEGER unix microseconds (UTC). Each job's attempt errors are
// a JSON array column. The fetch reads a partial index holding only
// available jobs, in fetch order, so it costs the same with a million
// completed jobs in the table; due scheduled and retryable jobs are
// promoted to available by the fetch itself (see [Store.JobFetch]). Job
// counts per queue and state are kept in a small table, adjusted in the
// transaction of every change, so [Store.QueueStats] does not count the
// table. Inserts and completions go in multi-row statements of up to 100
// rows. Migrations are embedded SQL files recorded in schema_migrations.
//
// # Workflows
//
// A job inserted with dependencies is waiting (never in the fetch index);
// for each dependency not finished yet a row (dependency, waiting job) of
// job_deps records it, and the dependency is flagged has_dependents. The
// statements that finalize jobs (completions, rescues, cancels, deletes)
// return that flag with the rows they change, and only flagged jobs read
// job_deps, in the same transaction: a job nobody waits for pays nothing
// for workflows. The single writer makes the counting exact across
// processes. See deps.go.
//
// Worker heartbeats, leader leases and periodic jobs have small tables of
// their own (workers, leaders, periodic_jobs). A leader election is one
// conditional upsert, and PeriodicFire checks the last tick, inserts the
// job and records the tick in one transaction, so two leaders never fire
// one tick twice.
//
// # Upgrading
//
// Migration 0002 (workflows) rebuilds the jobs table, since SQLite cannot
// change a CHECK constraint in place: it copies every row, which takes
// about ten seconds per million jobs, while it holds the write lock. Run
// `boiler migrate` once before starting the new workers on a large
// database, so that no process waits on the lock longer than its
// busy_timeout.
package sqlite
