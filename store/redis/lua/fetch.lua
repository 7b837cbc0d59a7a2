-- fetch: JobFetch. ARGV: now, lease_expires_at, owner, limit, inline,
-- queues... Returns the leased jobs in fetch order: {id, fields} each
-- when there are at most inline of them, else only their ids, which the
-- caller reads with HGETALL. Converting 19 fields per job into Lua values
-- costs Redis more than the rest of the fetch, so big batches leave it to
-- a pipeline; small ones (an idle worker woken by an insert) save the
-- round trip.
local now, lease, owner, limit, inline = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])

-- promote moves the due jobs of one of q's time-ordered sets (scheduled or
-- retryable) into q's available set. Their state field is left as it is:
-- a due scheduled job still reads "scheduled" until it is fetched, as in
-- the SQL stores.
local function promote(q, st)
  local src = qkey(q, st)
  local ids = redis.call('ZRANGEBYSCORE', src, '-inf', now)
  if #ids == 0 then return end
  local add = {}
  for _, id in ipairs(ids) do
    local h = redis.call('HMGET', jobkey(id), 'priority', 'run_at')
    if h[1] then
      add[#add + 1] = score(h[1])
      add[#add + 1] = member(h[2], id)
    end
  end
  vcall('ZADD', qkey(q, 'available'), add)
  redis.call('ZREMRANGEBYSCORE', src, '-inf', now)
end

-- The indexes of running jobs, filled in the loop (the hot path, inlined).
local running, leases, owned = list(batch.zadd, statekey('running')), list(batch.zadd, K_LEASES),
  list(batch.sadd, ownerkey(owner))
local out = {}
for i = 6, #ARGV do
  if #out >= limit then break end
  local q = ARGV[i]
  if redis.call('SISMEMBER', K_PAUSED, q) == 0 then
    promote(q, 'scheduled')
    promote(q, 'retryable')
    local ms = redis.call('ZPOPMIN', qkey(q, 'available'), limit - #out)
    local n = 0
    for j = 1, #ms, 2 do
      local id = member_id(ms[j])
      local k = jobkey(id)
      local h = redis.call('HMGET', k, 'state', 'attempt')
      if h[1] then
        redis.call('HSET', k, 'state', 'running', 'attempt', tostring(tonumber(h[2]) + 1),
          'attempted_at', now, 'lease_owner', owner, 'lease_expires_at', lease)
        push(batch.zrem, statekey(h[1]), id)
        running[#running + 1] = id
        running[#running + 1] = id
        leases[#leases + 1] = lease
        leases[#leases + 1] = id
        owned[#owned + 1] = id
        out[#out + 1] = id
        n = n + 1
      end
    end
    incr(q, 'running', n)
  end
end
flush()
if #out <= inline then
  for i, id in ipairs(out) do out[i] = { id, redis.call('HGETALL', jobkey(id)) } end
end
return out
