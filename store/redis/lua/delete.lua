-- delete: JobDelete. ARGV: id. Returns the job's fields before deletion.
local id = ARGV[1]
local k = jobkey(id)
local j = load(id)
local st = j[F_STATE]
if not st then return redis.error_reply('BOILER_NOTFOUND') end
if st == 'running' then return redis.error_reply('BOILER_RUNNING') end
local fields = redis.call('HGETALL', k)
unindex(id, st, j[F_QUEUE], j[F_RUN])
release_unique(id, j[F_UKEY])
redis.call('DEL', k)
flush()
return fields
