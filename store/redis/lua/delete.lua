-- delete: JobDelete. ARGV: id, now (the time the jobs waiting for it are
-- cancelled at). Returns the job's fields before deletion.
local id, now = ARGV[1], ARGV[2]
local k = jobkey(id)
local j = load(id)
local st = j[F_STATE]
if not st then return redis.error_reply('BOILER_NOTFOUND') end
if st == 'running' then return redis.error_reply('BOILER_RUNNING') end
local fields = redis.call('HGETALL', k)
unindex(id, st, j[F_QUEUE], j[F_RUN])
release_unique(id, j[F_UKEY])
if j[F_WF] and j[F_WF] ~= '' then push(batch.zrem, wfkey(j[F_WF]), id) end
if st == 'waiting' and j[F_DEPS] then
  for d in string.gmatch(j[F_DEPS], '%d+') do push(batch.srem, waiterskey(d), id) end
end
-- A job deleted before it was finalized counts as cancelled for the jobs
-- waiting for it.
local woken = {}
if j[F_WAITED] == '1' then
  if is_final(st) then
    redis.call('DEL', waiterskey(id))
  else
    finish(id, 'cancelled', now, woken)
  end
end
redis.call('DEL', k)
flush()
for q in pairs(woken) do wake(q) end
return fields
