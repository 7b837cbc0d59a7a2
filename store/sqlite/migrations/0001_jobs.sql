-- 0001: the jobs table, its indexes, per-queue state counts and paused queues.
--
-- Times are INTEGER unix microseconds (UTC); durations are INTEGER
-- nanoseconds. A NULL time is a zero time.Time.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- AUTOINCREMENT: an ID is never reused after a delete
    kind             TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    args             TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN
                         ('scheduled', 'available', 'running', 'retryable', 'completed', 'discarded', 'cancelled')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    timeout_ns       INTEGER NOT NULL DEFAULT 0,
    enqueued_at      INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    attempted_at     INTEGER,
    finalized_at     INTEGER, -- set exactly when state is completed, discarded or cancelled
    unique_key       TEXT,    -- NULL once released to a newer job with the same key
    unique_until     INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    errors           TEXT,    -- JSON array of attempt errors, NULL while there is none
    result           TEXT
) STRICT;

-- The fetch query: available jobs of one queue in fetch order. Only
-- available jobs are in it, so a fetch reads exactly the entries it takes,
-- however many completed or future jobs the table holds. Due scheduled and
-- retryable jobs are promoted to available by the fetch itself (jobs_due).
CREATE INDEX jobs_fetch ON jobs (queue, priority DESC, run_at, id) WHERE state = 'available';

-- Jobs waiting for their run_at, by queue: the fetch's promotion step
-- seeks the due ones of the queue it fetches, QueueStats counts them.
CREATE INDEX jobs_due ON jobs (queue, run_at) WHERE state IN ('scheduled', 'retryable');

-- Running jobs by lease owner: heartbeats, and the rescuer's scan of
-- running jobs (there are never more than the workers' concurrency).
CREATE INDEX jobs_running ON jobs (lease_owner) WHERE state = 'running';

-- A unique key is held by at most one row; a row whose hold ended gives
-- its key up (NULL) when a newer job takes it.
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;

-- The cleaner: finalized jobs of one state, oldest first. (Also JobList
-- of discarded and cancelled jobs.)
CREATE INDEX jobs_finalized ON jobs (state, finalized_at) WHERE finalized_at IS NOT NULL;

-- Job counts per queue and state, so QueueStats reads a handful of rows
-- instead of counting a table of a million jobs. The store adjusts them in
-- the transaction of every change, one row per (queue, state) touched by
-- the batch. (Triggers would be simpler, but a trigger runs per row and
-- cost a third of the fetch-and-complete time.)
CREATE TABLE queue_counts (
    queue TEXT    NOT NULL,
    state TEXT    NOT NULL,
    n     INTEGER NOT NULL,
    PRIMARY KEY (queue, state)
) STRICT, WITHOUT ROWID;

-- Paused queues. A row with paused = 0 is a queue that was resumed.
CREATE TABLE queues (
    name       TEXT    PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
