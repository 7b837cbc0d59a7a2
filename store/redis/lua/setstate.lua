-- setstate: JobSetStateIfRunningMany. ARGV: n, then 9 fields per entry:
-- id, owner, attempt, state, now, run_at, error (JSON or ''), result ('' to
-- keep), undo ('1' or ''). Returns 1 per applied entry, 0 per refused one.
local n = tonumber(ARGV[1])
local out, woken = {}, {}
for i = 0, n - 1 do
  local b = 1 + i * 9
  local id, owner, attempt, st = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]
  local now, run_at, err, result, undo = ARGV[b + 5], ARGV[b + 6], ARGV[b + 7], ARGV[b + 8], ARGV[b + 9]
  local j = load(id)
  if j[F_STATE] ~= 'running' or j[F_OWNER] ~= owner or j[F_ATTEMPT] ~= attempt then
    out[#out + 1] = 0
  else
    local k = jobkey(id)
    local q = j[F_QUEUE]
    unindex(id, 'running', q, nil, owner)
    local fields = { 'state', st, 'lease_owner', '', 'lease_expires_at', '' }
    local fin = nil
    if is_final(st) then
      fin = now
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
    redis.call('HSET', k, unpack(fields))
    if undo == '1' then redis.call('HINCRBY', k, 'attempt', -1) end
    if fin then
      if j[F_UUNTIL] == '' then release_unique(id, j[F_UKEY]) end
      index(id, st, q, nil, nil, nil, nil, fin)
    else
      index(id, st, q, j[F_PRIO], run_at)
      if st == 'available' then woken[q] = true end
    end
    out[#out + 1] = 1
  end
end
flush()
for q in pairs(woken) do wake(q) end
return out
