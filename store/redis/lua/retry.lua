-- retry: JobRetry. ARGV: id, now. Returns the job's fields after the call.
local id, now = ARGV[1], ARGV[2]
local k = jobkey(id)
local j = load(id)
local st = j[F_STATE]
if not st then return redis.error_reply('BOILER_NOTFOUND') end
if st == 'running' then return redis.error_reply('BOILER_RUNNING') end
local q = j[F_QUEUE]
unindex(id, st, q, j[F_RUN], j[F_OWNER])
local maxa = tonumber(redis.call('HGET', k, 'max_attempts'))
local attempt = tonumber(j[F_ATTEMPT])
if attempt >= maxa then
  redis.call('HSET', k, 'max_attempts', tostring(attempt + 1))
end
redis.call('HSET', k, 'state', 'available', 'run_at', now, 'finalized_at', '',
  'cancel_requested', '')
index(id, 'available', q, score(j[F_PRIO]), now)
-- A job unique until finalized takes its key back unless another live job
-- took it meanwhile.
local ukey = j[F_UKEY]
if ukey ~= '' and j[F_UUNTIL] == '' then
  local ukk = P .. 'unique:' .. ukey
  local h = redis.call('GET', ukk)
  if not h or h == id or not holds(h, now) then redis.call('SET', ukk, id) end
end
wake(q)
flush()
return redis.call('HGETALL', k)
