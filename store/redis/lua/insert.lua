-- insert: JobInsertMany. ARGV: now, n, then 11 fields per job: kind, queue,
-- priority, score (-priority), args, max_attempts, timeout, state, run_at,
-- unique_key, unique_until. Returns per job {id} for a new job, or
-- {id, fields} for the live job that holds its unique key.
local now, n = ARGV[1], tonumber(ARGV[2])
local out, queues, woken = {}, {}, {}
-- Ids come from one counter read and written once: the script is atomic.
local last = tonumber(redis.call('GET', P .. 'id') or '0')
for i = 0, n - 1 do
  local b = 2 + i * 11
  local kind, q, prio, sc, args = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4], ARGV[b + 5]
  local maxa, timeout, st, run_at = ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], ARGV[b + 9]
  local ukey, uuntil = ARGV[b + 10], ARGV[b + 11]
  local holder = nil
  if ukey ~= '' then
    local h = redis.call('GET', P .. 'unique:' .. ukey)
    if h and holds(h, now) then holder = h end
  end
  if holder then
    out[#out + 1] = { holder, redis.call('HGETALL', jobkey(holder)) }
  else
    last = last + 1
    local id = string.format('%d', last)
    redis.call('HSET', jobkey(id),
      'kind', kind, 'queue', q, 'priority', prio, 'args', args, 'state', st,
      'attempt', '0', 'max_attempts', maxa, 'timeout', timeout,
      'enqueued_at', now, 'run_at', run_at, 'attempted_at', '', 'finalized_at', '',
      'unique_key', ukey, 'unique_until', uuntil, 'lease_owner', '',
      'lease_expires_at', '', 'cancel_requested', '', 'errors', '', 'result', '')
    index(id, st, q, sc, run_at)
    if ukey ~= '' then redis.call('SET', P .. 'unique:' .. ukey, id) end
    queues[q] = true
    if st == 'available' then woken[q] = true end
    out[#out + 1] = { id }
  end
end
redis.call('SET', P .. 'id', string.format('%d', last))
for q in pairs(queues) do push(batch.sadd, K_QUEUES, q) end
flush()
for q in pairs(woken) do wake(q) end
return out
