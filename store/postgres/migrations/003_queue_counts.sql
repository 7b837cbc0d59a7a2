-- Job counts per queue and state, kept as jobs change, so that QueueStats
-- reads a few rows instead of counting every job (issue 6: two seconds at a
-- million jobs).
--
-- A single counter row per (queue, state), updated by every fetch and
-- every acknowledgement, would be locked by each writing transaction until
-- its commit, and so would serialize the workers of every process (and an
-- application's long transaction that enqueues would stall them all).
-- Instead, statement triggers append each statement's net changes to
-- queue_count_deltas, which nothing ever locks, and compact_queue_counts
-- folds the deltas into queue_counts from time to time (QueueStats and the
-- rescuer call it). A count is queue_counts plus the deltas, read in one
-- snapshot: exact at every moment, whoever changed the jobs (any version
-- of this program, or a person with psql).

CREATE TABLE {schema}.queue_counts (
	queue text   NOT NULL,
	state text   NOT NULL,
	n     bigint NOT NULL,
	PRIMARY KEY (queue, state)
);

-- No index and no key: appends only, read whole.
CREATE TABLE {schema}.queue_count_deltas (
	queue text   NOT NULL,
	state text   NOT NULL,
	n     bigint NOT NULL
);

-- Inserts are counted by the insert trigger of migration 001, which
-- already reads the inserted rows to wake listeners: one trigger call and
-- one pass over the rows per insert, not two. The notification, as
-- before: one per queue with available jobs, at commit.
CREATE OR REPLACE FUNCTION {schema}.notify_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	v_woken bigint;
BEGIN
	WITH c AS (
		SELECT queue, state, count(*) AS n FROM new_jobs GROUP BY queue, state
	), counted AS (
		INSERT INTO {schema}.queue_count_deltas (queue, state, n) SELECT queue, state, n FROM c
	)
	SELECT count(pg_notify(TG_TABLE_SCHEMA || '.jobs_inserted', queue)) INTO v_woken
	FROM c WHERE state = 'available';
	RETURN NULL;
END
$$;

CREATE FUNCTION {schema}.count_jobs_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO {schema}.queue_count_deltas (queue, state, n)
	SELECT queue, state, sum(n) FROM (
		SELECT queue, state, -1 AS n FROM old_jobs
		UNION ALL
		SELECT queue, state, 1 FROM new_jobs
	) AS d
	GROUP BY queue, state
	HAVING sum(n) <> 0;
	RETURN NULL;
END
$$;

CREATE FUNCTION {schema}.count_jobs_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO {schema}.queue_count_deltas (queue, state, n)
	SELECT queue, state, -count(*) FROM old_jobs GROUP BY queue, state;
	RETURN NULL;
END
$$;

-- TRUNCATE (by hand: the store never truncates) empties the counts too.
CREATE FUNCTION {schema}.count_jobs_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM {schema}.queue_counts;
	DELETE FROM {schema}.queue_count_deltas;
	RETURN NULL;
END
$$;

-- The triggers come before the first count: creating them locks out every
-- writer of jobs until the migration commits, so no change falls between
-- the count and the triggers (the insert trigger counts from now on too:
-- the new function is in place, and writers are locked out).
CREATE TRIGGER jobs_count_update
	AFTER UPDATE ON {schema}.jobs
	REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
	FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_jobs_updated();

CREATE TRIGGER jobs_count_delete
	AFTER DELETE ON {schema}.jobs
	REFERENCING OLD TABLE AS old_jobs
	FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_jobs_deleted();

CREATE TRIGGER jobs_count_truncate
	AFTER TRUNCATE ON {schema}.jobs
	FOR EACH STATEMENT EXECUTE FUNCTION {schema}.count_jobs_truncated();

INSERT INTO {schema}.queue_counts (queue, state, n)
SELECT queue, state, count(*) FROM {schema}.jobs GROUP BY queue, state;

-- compact_queue_counts moves the deltas into queue_counts in one
-- transaction (a reader sees them on one side or the other, never both).
-- One compaction at a time per schema: a second caller returns at once.
-- Counts that reach zero are deleted, so a queue without jobs leaves no
-- rows behind.
CREATE FUNCTION {schema}.compact_queue_counts() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT pg_try_advisory_xact_lock(1651469420, '{schema}.queue_count_deltas'::regclass::oid::integer) THEN
		RETURN;
	END IF;
	WITH moved AS (
		DELETE FROM {schema}.queue_count_deltas RETURNING queue, state, n
	), sums AS (
		SELECT queue, state, sum(n) AS n FROM moved GROUP BY queue, state
	)
	INSERT INTO {schema}.queue_counts AS c (queue, state, n)
	SELECT queue, state, n FROM sums WHERE n <> 0
	ON CONFLICT (queue, state) DO UPDATE SET n = c.n + excluded.n;
	DELETE FROM {schema}.queue_counts WHERE n = 0;
END
$$;

-- QueueStats counts the scheduled and retryable jobs already due (they
-- count as available) through this index; it holds only those two states,
-- so the available backlog costs it nothing.
CREATE INDEX jobs_due_idx ON {schema}.jobs (run_at) WHERE state IN ('scheduled', 'retryable');
