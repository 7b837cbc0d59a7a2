-- deletefinalized: JobDeleteFinalized. ARGV: state, before, limit.
-- Returns how many jobs it deleted.
local st, before, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', finkey(st), '-inf', '(' .. before,
  'LIMIT', 0, limit)
for _, id in ipairs(ids) do
  local j = load(id)
  if j[F_STATE] then
    unindex(id, j[F_STATE], j[F_QUEUE], j[F_RUN])
    release_unique(id, j[F_UKEY])
    if j[F_WF] and j[F_WF] ~= '' then push(batch.zrem, wfkey(j[F_WF]), id) end
    if j[F_WAITED] == '1' then redis.call('DEL', waiterskey(id)) end
    redis.call('DEL', jobkey(id))
  else
    push(batch.zrem, finkey(st), id)
  end
end
flush()
return #ids
