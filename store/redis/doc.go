// Package redis is the Redis backend of the job queue: a [store.Store] that
// several processes and containers share through one Redis server, such as
// the REDIS_URL of a Heroku Redis add-on.
//
// Open it from a URL (redis:// or rediss:// for TLS), or wrap a client you
// already have with New:
//
//	s, err := redis.Open(ctx, os.Getenv("REDIS_URL"), &redis.Options{
//		InsecureSkipVerify: true, // Heroku Redis: self-signed certificates
//	})
//
// # How jobs are kept
//
// A job is one hash, keyed by an id drawn from a counter. Every
// state change that touches more than one key is one Lua script, so a
// change is all or nothing and two workers never see a half-moved job. A
// script changes the indexes of all the jobs it handles in a few variadic
// commands (a fetch of 100 jobs costs about 200 commands inside Redis, not
// 900).
// Indexes around the hashes (every key starts with the prefix, "boiler:" by
// default):
//
//	queue:<q>:available  sorted set of the jobs ready to run: score
//	                     -priority, member run_at (17 digits) then id (16
//	                     digits). Ties on the score sort by member, so
//	                     ZPOPMIN takes priority descending, then RunAt, then
//	                     ID: exactly the order the store contract asks for.
//	queue:<q>:scheduled  sorted sets of scheduled and retryable jobs by
//	queue:<q>:retryable  run_at. The fetch script moves the due ones into
//	                     the available set before it pops, so a job is
//	                     eligible the moment it is due; its state field keeps
//	                     saying scheduled or retryable until it is fetched.
//	queue:<q>:counts     waiting, running, completed, discarded, cancelled
//	                     counters
//	leases               sorted set of running jobs by lease expiry (rescue)
//	owner:<worker>       set of the jobs a worker runs (heartbeat)
//	state:<state>        sorted set of ids per state (JobList)
//	finalized:<state>    sorted set of finalized ids by time (retention)
//	queues, paused       the names of the queues with jobs; the paused ones
//	id                   the last job id
//	unique:<key>         the id of the job holding a unique key
//	workflow:<w>         sorted set of the ids of workflow w's jobs (JobList)
//	waiters:<id>         set of the jobs waiting for job id (see below)
//	workers              hash of worker id -> WorkerInfo as JSON, and
//	workers:beat         sorted set of worker ids by heartbeat time
//	leader:<name>        hash: holder, expires_at
//	periodic:<name>      hash: a periodic job's definition and ticks, and
//	periodic             sorted set of their names
//	inserts              pub/sub channel: the queue name of each insert
//
// A job waiting for others (state waiting) sits in state:waiting and its
// queue's waiting counter only, so no fetch can see it; its hash holds deps
// (the ids, comma-separated), deps_left and run_on_failure. Each of its
// unfinished dependencies has it in its waiters set and the field waited
// set to 1. Every script that finalizes a job (complete, discard, cancel,
// rescue, delete) reads waited with the fields it reads anyway, and only
// when it is set updates the waiters in the same script: a decrement per
// finished dependency, available (or scheduled) at zero, or a cancellation
// that goes on down the chain. Scripts run one at a time, so the count is
// exact whatever number of workers and processes finish dependencies at
// once, and a job without waiters pays nothing for the feature.
//
// Time always comes from the caller (the Now of each call), passed to the
// scripts as microseconds since 1970; Redis's own clock is never read. Times
// before 1970 or after 2255 are refused. (JobDelete has no Now: the jobs it
// cancels because they waited for the deleted job get this process's
// clock. A leader's key also gets a PEXPIRE a minute after its lease ends,
// which only cleans up a leadership nobody renews; who leads is decided by
// the callers' times.)
//
// Idle workers wake through pub/sub: an insert publishes its queue's name
// on the prefix's channel and ListenInserts fans it out to its channels.
// The store never polls; the workers do, as a fallback.
//
// # Server versions and deployment
//
// The store runs on Redis 6.0 and later (and Valkey): it uses EVALSHA and
// no Redis 7 functions or commands. Redis Cluster is not supported: the
// scripts touch keys they compute, which a cluster accepts only when every
// key hashes to one slot. Key eviction must be off (maxmemory-policy
// noeviction, the default of Heroku Redis): an evicted job is a lost job.
//
// A job takes about 700 bytes of Redis memory with small args (measured:
// 20,000 no-op jobs, queued or completed), plus its args. Completed jobs
// stay for the worker's retention period (24 h by default), so a small
// plan fills up with finished jobs first: at 25 MB, about 30,000 of them.
// Shorten the retention on a small Redis.
//
// A Store's connections: go-redis's pool (at most 10 per CPU, a handful
// in use), its pipeline pool (at most 10), and one for ListenInserts.
// Lower them with the URL parameters pool_size and pipeline_pool_size on a
// plan with a small connection limit.
//
// # Durability: when Redis restarts
//
// Redis keeps its data in memory. What survives a restart of the Redis
// server (a crash, a maintenance, a plan change) depends on its
// persistence settings, not on this package:
//
//   - With no persistence (a plain redis-server, or --save "" --appendonly
//     no), a restart loses every job: queued, scheduled, running and
//     finished ones, unique keys and paused queues. Workers reconnect by
//     themselves and carry on with an empty queue; the jobs they were
//     running can no longer be completed (their completion is refused as a
//     lost lease) and will not run again.
//   - With RDB snapshots only, a restart loses what changed since the last
//     snapshot: jobs inserted after it are gone; jobs finished after it come
//     back in the state they had, and run again (delivery stays at least
//     once, never zero, for the jobs the snapshot holds).
//   - With the append-only file (appendonly yes, appendfsync everysec),
//     a restart loses at most about the last second of changes. This is
//     the setting to use for a job queue.
//
// Use a Redis with AOF persistence (appendfsync everysec) or a managed
// Redis that persists and replicates, and check what your plan promises.
// Heroku documents AOF persistence (written every second) and a failover
// standby for its production plans (Premium, Private, Shield); its mini
// plan is not among them, so treat a mini Redis as one that can lose its
// data, and keep it for jobs you could enqueue again. A Redis used as a
// cache, without persistence, is not a durable queue: when losing jobs on
// a restart is not acceptable and persistence cannot be turned on, use the
// PostgreSQL store.
package redis
