-- periodicfire: PeriodicFire. ARGV: name, tick, next_tick, now, then
-- optionally the fields of one job as insert_jobs (insertjobs.lua) reads
-- them. Unless the entry's last_tick is at or after tick, it inserts the
-- job (if any) and records the tick. Returns {0} when the tick was already
-- fired, {1} for a skipped tick recorded, {1, insert reply of the job}
-- otherwise.
local name, tick, next_tick, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local k = P .. 'periodic:' .. name
if redis.call('EXISTS', k) == 0 then return redis.error_reply('BOILER_NOTFOUND') end
local last = redis.call('HGET', k, 'last_tick')
if last and last ~= '' and last >= tick then return { 0 } end
if #ARGV == 4 then -- no job: a skipped tick
  redis.call('HSET', k, 'last_tick', tick, 'next_tick', next_tick)
  return { 1 }
end
local res = insert_jobs(now, ARGV, 4, 1)
if res.err then return res end
redis.call('HSET', k, 'last_tick', tick, 'next_tick', next_tick, 'last_job_id', res[1][1])
return { 1, res[1] }
