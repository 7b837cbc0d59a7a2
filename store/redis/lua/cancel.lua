-- cancel: JobCancel. ARGV: id, now. Returns the job's fields after the call.
local id, now = ARGV[1], ARGV[2]
local k = jobkey(id)
local j = load(id)
local st = j[F_STATE]
if not st then return redis.error_reply('BOILER_NOTFOUND') end
local woken = {}
if st == 'running' then
  redis.call('HSET', k, 'cancel_requested', '1')
elseif not is_final(st) then
  unindex(id, st, j[F_QUEUE], j[F_RUN])
  redis.call('HSET', k, 'state', 'cancelled', 'finalized_at', now)
  if j[F_UUNTIL] == '' then release_unique(id, j[F_UKEY]) end
  index(id, 'cancelled', j[F_QUEUE], nil, nil, nil, nil, now)
  if j[F_WAITED] == '1' then finish(id, 'cancelled', now, woken) end
end
flush()
for q in pairs(woken) do wake(q) end
return redis.call('HGETALL', k)
