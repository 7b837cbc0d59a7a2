-- Workflows (the waiting state, dependencies between jobs, the workflow
-- tag), the registry of worker processes, leader leases and periodic jobs.
-- {schema} is replaced by the store's quoted schema name.
--
-- Adding columns with constant defaults rewrites nothing; only the state
-- check (which gains 'waiting') and the workflow index read the table once.

ALTER TABLE {schema}.jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE {schema}.jobs ADD CONSTRAINT jobs_state_check CHECK (state IN
	('waiting', 'scheduled', 'available', 'running', 'retryable', 'completed', 'discarded', 'cancelled'));

ALTER TABLE {schema}.jobs
	ADD COLUMN workflow       text,                          -- the workflow's ID, NULL for none
	ADD COLUMN deps           bigint[],                      -- the jobs it waits (or waited) for, in insert order
	ADD COLUMN deps_left      integer NOT NULL DEFAULT 0,    -- how many of deps had not finished when last counted
	ADD COLUMN run_on_failure boolean NOT NULL DEFAULT false,
	-- true once a waiting job named this one in its deps: only then does
	-- the job's end look for jobs to update (job_deps), so the jobs nobody
	-- waits for (nearly all) pay nothing for workflows.
	ADD COLUMN has_dependents boolean NOT NULL DEFAULT false;

-- JobList's Workflow filter: a workflow's members, newest first.
CREATE INDEX jobs_workflow_idx ON {schema}.jobs (workflow, id) WHERE workflow IS NOT NULL;

-- JobList of waiting jobs, newest first: few rows, so a JobList by state
-- finds them without walking every job.
CREATE INDEX jobs_waiting_idx ON {schema}.jobs (id) WHERE state = 'waiting';

-- Who waits for whom, while they wait: one row per (dependency, waiting
-- job), keyed by the dependency, so a job that ends finds its waiting jobs
-- with one index range. A dependency's rows are deleted when it ends (so
-- each is counted once, even if the job is retried and ends again); a row
-- whose waiting job is gone or no longer waiting is ignored and deleted
-- then. A new waiting job locks its dependencies' rows while it inserts
-- its own rows here, so a dependency ending at the same moment either is
-- seen ended by the insert or sees the new rows (see finish_deps).
CREATE TABLE {schema}.job_deps (
	dep_id bigint NOT NULL,
	job_id bigint NOT NULL,
	PRIMARY KEY (dep_id, job_id)
);

-- finish_deps updates the jobs waiting for jobs that just ended: p_ids
-- ended in p_states (a deletion counts as cancelled) at p_nows, and returns
-- how many waiting jobs it changed. It runs in the transaction that ended
-- them, after the ending statement locked their rows: called by a later
-- statement, or by the ending statement itself (a VOLATILE function's
-- statements each take a fresh snapshot), it sees the job_deps rows of
-- every insert that committed while the ending statement waited for the
-- dependency's row lock.
--
-- Each waiting job is decremented once per job_deps row deleted for it,
-- so two of its dependencies ending in one call count twice; the UPDATE
-- locks the waiting job's row, so concurrent calls in other transactions
-- apply their decrements one after the other, each on the latest count.
-- A dependency that failed (not completed) cancels a waiting job without
-- RunOnFailure, which ends it in turn: the loop repeats for the cancelled
-- jobs that have dependents. Jobs that become available wake the
-- listeners of their queue, as an insert does.
CREATE FUNCTION {schema}.finish_deps(p_ids bigint[], p_states text[], p_nows timestamptz[])
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
	v_ids          bigint[] := p_ids;
	v_states       text[] := p_states;
	v_nows         timestamptz[] := p_nows;
	v_jobs         bigint[];
	v_counts       integer[];
	v_ats          timestamptz[];
	v_failed_ids   bigint[];
	v_failed_states text[];
	v_queues       text[];
	v_channel      text;
	v_changed      integer := 0;
	v_round        integer;
BEGIN
	WHILE cardinality(v_ids) > 0 LOOP
		-- The waiting jobs' rows in job_deps, deleted: each is counted here
		-- and never again.
		WITH ended AS (
			DELETE FROM {schema}.job_deps AS d
			USING unnest(v_ids, v_states, v_nows) WITH ORDINALITY AS f(id, state, now, ord)
			WHERE d.dep_id = f.id
			RETURNING d.job_id, d.dep_id, f.state, f.now, f.ord
		), per_job AS (
			SELECT job_id, count(*)::integer AS n, max(now) AS now,
				(array_agg(dep_id ORDER BY ord) FILTER (WHERE state <> 'completed'))[1] AS failed_id,
				(array_agg(state ORDER BY ord) FILTER (WHERE state <> 'completed'))[1] AS failed_state
			FROM ended
			GROUP BY job_id
		)
		SELECT array_agg(job_id ORDER BY job_id), array_agg(n ORDER BY job_id), array_agg(now ORDER BY job_id),
			array_agg(failed_id ORDER BY job_id), array_agg(failed_state ORDER BY job_id)
		INTO v_jobs, v_counts, v_ats, v_failed_ids, v_failed_states
		FROM per_job;
		EXIT WHEN v_jobs IS NULL;

		-- Lock the waiting jobs in ID order, so that two transactions
		-- ending dependencies of the same jobs do not deadlock.
		PERFORM 1 FROM {schema}.jobs WHERE id = ANY(v_jobs) ORDER BY id FOR NO KEY UPDATE;

		WITH changed AS (
			UPDATE {schema}.jobs AS w SET
				state = CASE
					WHEN e.failed_id IS NOT NULL AND NOT w.run_on_failure THEN 'cancelled'
					WHEN w.deps_left > e.n THEN 'waiting'
					WHEN w.run_at > e.now THEN 'scheduled'
					ELSE 'available' END,
				deps_left = CASE WHEN e.failed_id IS NOT NULL AND NOT w.run_on_failure THEN w.deps_left
					ELSE greatest(w.deps_left - e.n, 0) END,
				run_at = CASE WHEN (e.failed_id IS NULL OR w.run_on_failure) AND w.deps_left <= e.n AND w.run_at <= e.now
					THEN e.now ELSE w.run_at END,
				finalized_at = CASE WHEN e.failed_id IS NOT NULL AND NOT w.run_on_failure THEN e.now END,
				errors = CASE WHEN e.failed_id IS NOT NULL AND NOT w.run_on_failure
					THEN w.errors || jsonb_build_array(jsonb_build_object(
						'attempt', 0,
						'at', to_char(e.now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
						'error', 'dependency job ' || e.failed_id || ' was ' || e.failed_state))
					ELSE w.errors END
			FROM unnest(v_jobs, v_counts, v_ats, v_failed_ids, v_failed_states) AS e(job_id, n, now, failed_id, failed_state)
			WHERE w.id = e.job_id AND w.state = 'waiting'
			RETURNING w.id, w.state, w.queue, w.has_dependents, w.finalized_at
		)
		SELECT coalesce(array_agg(id) FILTER (WHERE state = 'cancelled' AND has_dependents), '{}'),
			coalesce(array_agg(finalized_at) FILTER (WHERE state = 'cancelled' AND has_dependents), '{}'),
			array_agg(DISTINCT queue) FILTER (WHERE state = 'available'),
			count(*)
		INTO v_ids, v_nows, v_queues, v_round
		FROM changed;
		v_changed := v_changed + v_round;

		IF v_queues IS NOT NULL THEN
			SELECT n.nspname || '.jobs_inserted' INTO v_channel
			FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
			WHERE c.oid = '{schema}.jobs'::regclass;
			PERFORM pg_notify(v_channel, q) FROM unnest(v_queues) AS q;
		END IF;
		v_states := array_fill('cancelled'::text, ARRAY[cardinality(v_ids)]);
	END LOOP;
	RETURN v_changed;
END
$$;

-- The worker processes, as their last heartbeat described them.
CREATE TABLE {schema}.workers (
	id           text        PRIMARY KEY,
	host         text        NOT NULL,
	pid          integer     NOT NULL,
	queues       text[]      NOT NULL,
	concurrency  integer     NOT NULL,
	running      integer     NOT NULL,
	leader       boolean     NOT NULL,
	started_at   timestamptz NOT NULL,
	heartbeat_at timestamptz NOT NULL
);

-- Leader leases: one row per thing led, held by holder until expires_at.
CREATE TABLE {schema}.leaders (
	name       text        PRIMARY KEY,
	holder     text        NOT NULL,
	expires_at timestamptz NOT NULL
);

-- Periodic jobs: the definition, and the scheduler's bookkeeping
-- (last_tick, next_tick, last_job_id).
CREATE TABLE {schema}.periodic_jobs (
	name         text        PRIMARY KEY,
	spec         text        NOT NULL,
	kind         text        NOT NULL,
	args         json        NOT NULL, -- json, not jsonb: the job gets back the bytes given
	queue        text        NOT NULL,
	priority     integer     NOT NULL,
	max_attempts integer     NOT NULL,
	timeout_ns   bigint      NOT NULL,
	catch_up     text        NOT NULL,
	source       text        NOT NULL,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL,
	last_tick    timestamptz,
	next_tick    timestamptz,
	last_job_id  bigint
);

