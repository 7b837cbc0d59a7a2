-- setstate: JobSetStateIfRunningMany. ARGV: n, then 9 fields per entry:
-- id, owner, attempt, state, now, run_at, error (JSON or ''), result ('' to
-- keep), undo ('1' or ''). Returns 1 per applied entry, 0 per refused one.
local n = tonumber(ARGV[1])
local out, woken = {}, {}
local running = list(batch.zrem, statekey('running'))
local leases = list(batch.zrem, K_LEASES)
for i = 0, n - 1 do
  local b = 1 + i * 9
  local id, owner, attempt, st = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local now, run_at, err, result, undo = ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], ARGV[b + 9]
  local k = jobkey(id)
  local j = redis.call('HMGET', k, 'state', 'lease_owner', 'attempt', 'queue', 'unique_key', 'unique_until', 'waited')
  if j[1] ~= 'running' or j[2] ~= owner or j[3] ~= attempt then
    out[#out + 1] = 0
  else
    local q = j[4]
    -- Out of running (unindex, inlined).
    running[#running + 1] = id
    leases[#leases + 1] = id
    push(batch.srem, ownerkey(owner), id)
    incr(q, 'running', -1)
    local fields = { 'state', st, 'lease_owner', '', 'lease_expires_at', '' }
    if is_final(st) then
      fields[#fields + 1] = 'finalized_at'
      fields[#fields + 1] = now
    else
      fields[#fields + 1] = 'run_at'
      fields[#fields + 1] = run_at
    end
    if err ~= '' then
      fields[#fields + 1] = 'errors'
      fields[#fields + 1] = append_error(redis.call('HGET', k, 'errors'), err)
    end
    if result ~= '' then
      fields[#fields + 1] = 'result'
      fields[#fields + 1] = result
    end
    if undo == '1' then
      fields[#fields + 1] = 'attempt'
      fields[#fields + 1] = tostring(tonumber(attempt) - 1)
    end
    redis.call('HSET', k, unpack(fields))
    if is_final(st) then
      if j[6] == '' then release_unique(id, j[5]) end
      index(id, st, q, nil, nil, nil, nil, now)
      if j[7] == '1' then finish(id, st, now, woken) end
    else
      index(id, st, q, score(redis.call('HGET', k, 'priority')), run_at)
      if st == 'available' then woken[q] = true end
    end
    out[#out + 1] = 1
  end
end
flush()
for q in pairs(woken) do wake(q) end
return out
