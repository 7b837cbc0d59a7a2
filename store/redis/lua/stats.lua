-- stats: QueueStats. ARGV: now. Returns per queue with jobs or paused:
-- {name, paused, waiting, scheduled, available, running, retryable,
-- completed, discarded, cancelled, oldest_available_at or ''}, sorted by
-- name.
-- Queues left without jobs are dropped from the queue set.
local now = tonumber(ARGV[1])
local names = redis.call('SUNION', K_QUEUES, K_PAUSED)
table.sort(names)
local out = {}
for _, q in ipairs(names) do
  local paused = redis.call('SISMEMBER', K_PAUSED, q)
  local avail = qkey(q, 'available')
  local counts = { scheduled = 0, retryable = 0 }
  local available = redis.call('ZCARD', avail)
  local oldest = nil
  for _, st in ipairs({ 'scheduled', 'retryable' }) do
    local key = qkey(q, st)
    local due = redis.call('ZCOUNT', key, '-inf', now)
    counts[st] = redis.call('ZCARD', key) - due
    available = available + due
    if due > 0 then
      local first = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
      if not oldest or first < oldest then oldest = first end
    end
  end
  -- The available set is ordered by priority first: the oldest job is the
  -- first of one of its priority bands.
  local first = redis.call('ZRANGE', avail, 0, 0, 'WITHSCORES')
  while first[1] do
    local t = member_run_at(first[1])
    if not oldest or t < oldest then oldest = t end
    first = redis.call('ZRANGEBYSCORE', avail, '(' .. first[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  end
  local c = redis.call('HMGET', qkey(q, 'counts'), 'waiting', 'running', 'completed', 'discarded', 'cancelled')
  local total = counts.scheduled + available + counts.retryable
  for i = 1, 5 do
    local v = tonumber(c[i]) or 0
    total = total + v
    c[i] = v
  end
  if total > 0 or paused == 1 then
    out[#out + 1] = { q, paused, c[1], counts.scheduled, available, c[2], counts.retryable,
      c[3], c[4], c[5], oldest and string.format('%d', oldest) or '' }
  elseif total == 0 then
    -- A queue without jobs is forgotten; the next insert lists it again.
    redis.call('SREM', K_QUEUES, q)
    redis.call('DEL', qkey(q, 'counts'))
  end
end
return out
