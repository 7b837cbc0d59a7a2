-- rescue: JobRescue. ARGV: now, now as a JSON time, limit.
-- Returns how many jobs it rescued.
local now, now_json, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', '(' .. now, 'LIMIT', 0, limit)
local n, woken = 0, {}
for _, id in ipairs(ids) do
  local k = jobkey(id)
  local j = load(id)
  if j[F_STATE] ~= 'running' then
    -- Not running: a stale lease entry. Drop it.
    push(batch.zrem, K_LEASES, id)
  else
    local h = redis.call('HMGET', k, 'max_attempts', 'cancel_requested', 'errors')
    local q, owner = j[F_QUEUE], j[F_OWNER]
    unindex(id, 'running', q, nil, owner)
    local e = '{"attempt":' .. j[F_ATTEMPT] .. ',"at":' .. now_json .. ',"error":' ..
      cjson.encode('lease of worker ' .. owner .. ' expired: the worker died or lost the store') .. '}'
    local st = 'available'
    if h[2] == '1' then
      st = 'cancelled'
    elseif tonumber(j[F_ATTEMPT]) >= tonumber(h[1]) then
      st = 'discarded'
    end
    redis.call('HSET', k, 'state', st, 'lease_owner', '', 'lease_expires_at', '',
      'errors', append_error(h[3], e))
    if st == 'available' then
      redis.call('HSET', k, 'run_at', now)
      index(id, st, q, score(j[F_PRIO]), now)
      woken[q] = true
    else
      redis.call('HSET', k, 'finalized_at', now)
      if j[F_UUNTIL] == '' then release_unique(id, j[F_UKEY]) end
      index(id, st, q, nil, nil, nil, nil, now)
      if j[F_WAITED] == '1' then finish(id, st, now, woken) end
    end
    n = n + 1
  end
end
flush()
for q in pairs(woken) do wake(q) end
return n
