-- 0002: workflows (the waiting state, dependencies between jobs, the
-- workflow tag), the registry of worker processes, leader leases and
-- periodic jobs.
--
-- The jobs table is rebuilt: SQLite cannot change the CHECK constraint
-- of a column in place, and state gains 'waiting'. The rows keep their
-- IDs, and the AUTOINCREMENT sequence is carried over, so an ID used by a
-- job deleted before the migration is still never reused.

CREATE TABLE jobs_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    args             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN
                         ('waiting', 'scheduled', 'available', 'running', 'retryable', 'completed', 'discarded', 'cancelled')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout_ns       INTEGER NOT NULL DEFAULT 0,
    enqueued_at      INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    attempted_at     INTEGER,
    finalized_at     INTEGER,
    unique_key       TEXT,
    unique_until     INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    errors           TEXT,
    result           TEXT,
    workflow         TEXT,    -- the workflow's ID, NULL for none
    deps             TEXT,    -- JSON array of the IDs it waits (or waited) for, in insert order; NULL for none
    deps_left        INTEGER NOT NULL DEFAULT 0, -- how many of deps had not finished when last counted
    run_on_failure   INTEGER NOT NULL DEFAULT 0,
    -- 1 once a waiting job named this one in its deps: only then does the
    -- job's end look for jobs to update (job_deps), so the jobs nobody
    -- waits for (nearly all) pay nothing for workflows.
    has_dependents   INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO jobs_new (id, kind, queue, priority, args, state, attempt, max_attempts, timeout_ns,
        enqueued_at, run_at, attempted_at, finalized_at, unique_key, unique_until,
        lease_owner, lease_expires_at, cancel_requested, errors, result)
    SELECT id, kind, queue, priority, args, state, attempt, max_attempts, timeout_ns,
        enqueued_at, run_at, attempted_at, finalized_at, unique_key, unique_until,
        lease_owner, lease_expires_at, cancel_requested, errors, result
    FROM jobs;

-- The sequence of jobs (the largest ID ever used, deleted jobs included)
-- becomes that of jobs_new; the rename below renames its row.
DELETE FROM sqlite_sequence WHERE name = 'jobs_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_new', seq FROM sqlite_sequence WHERE name = 'jobs';

DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;

-- The indexes of 0001, unchanged (see there).
CREATE INDEX jobs_fetch ON jobs (queue, priority DESC, run_at, id) WHERE state = 'available';
CREATE INDEX jobs_due ON jobs (queue, run_at) WHERE state IN ('scheduled', 'retryable');
CREATE INDEX jobs_running ON jobs (lease_owner) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_finalized ON jobs (state, finalized_at) WHERE finalized_at IS NOT NULL;

-- JobList of waiting jobs, newest first (the entries are in rowid order).
CREATE INDEX jobs_waiting ON jobs (state) WHERE state = 'waiting';

-- JobList's Workflow filter: a workflow's members, in rowid order.
CREATE INDEX jobs_workflow ON jobs (workflow) WHERE workflow IS NOT NULL;

-- Who waits for whom, while they wait: one row per (dependency, waiting
-- job), keyed by the dependency, so a job that ends finds its waiting
-- jobs with one seek. A dependency's rows are deleted when it ends (each
-- is counted once, even if the job is retried and ends again); a row whose
-- waiting job is gone or no longer waiting is ignored and deleted then.
CREATE TABLE job_deps (
    dep_id INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (dep_id, job_id)
) STRICT, WITHOUT ROWID;

-- The worker processes, as their last heartbeat described them.
CREATE TABLE workers (
    id           TEXT    PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT    NOT NULL, -- JSON array
    concurrency  INTEGER NOT NULL,
    running      INTEGER NOT NULL,
    leader       INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Leader leases: one row per thing led, held by holder until expires_at.
CREATE TABLE leaders (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Periodic jobs: the definition, and the scheduler's bookkeeping
-- (last_tick, next_tick, last_job_id).
CREATE TABLE periodic_jobs (
    name         TEXT    PRIMARY KEY,
    spec         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    args         TEXT    NOT NULL,
    queue        TEXT    NOT NULL,
    priority     INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    timeout_ns   INTEGER NOT NULL,
    catch_up     TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_tick    INTEGER,
    next_tick    INTEGER,
    last_job_id  INTEGER
) STRICT, WITHOUT ROWID;
