-- fetch: JobFetch. ARGV: now, lease_expires_at, owner, limit, queues...
-- Returns {id, fields} per leased job, in fetch order.
local now, lease, owner, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

-- promote moves the due jobs of one of q's time-ordered sets (scheduled or
-- retryable) into q's available set. Their state field is left as it is:
-- a due scheduled job still reads "scheduled" until it is fetched, as in
-- the SQL stores.
local function promote(q, st)
  local src = qkey(q, st)
  local ids = redis.call('ZRANGEBYSCORE', src, '-inf', now)
  if #ids == 0 then return end
  local avail = qkey(q, 'available')
  for _, id in ipairs(ids) do
    local h = redis.call('HMGET', jobkey(id), 'priority', 'run_at')
    if h[1] then redis.call('ZADD', avail, 0 - tonumber(h[1]), member(h[2], id)) end
  end
  redis.call('ZREMRANGEBYSCORE', src, '-inf', now)
end

local out = {}
for i = 5, #ARGV do
  if #out >= limit then break end
  local q = ARGV[i]
  if redis.call('SISMEMBER', P .. 'paused', q) == 0 then
    promote(q, 'scheduled')
    promote(q, 'retryable')
    local ms = redis.call('ZPOPMIN', qkey(q, 'available'), limit - #out)
    for j = 1, #ms, 2 do
      local id = member_id(ms[j])
      local k = jobkey(id)
      local st = redis.call('HGET', k, 'state')
      if st then
        redis.call('ZREM', P .. 'state:' .. st, id)
        if st ~= 'available' then redis.call('ZREM', qkey(q, st), id) end
        redis.call('HINCRBY', k, 'attempt', 1)
        redis.call('HSET', k, 'state', 'running', 'attempted_at', now,
          'lease_owner', owner, 'lease_expires_at', lease)
        index(id, 'running', q, nil, nil, lease, owner)
        out[#out + 1] = { id, redis.call('HGETALL', k) }
      end
    end
  end
end
return out
