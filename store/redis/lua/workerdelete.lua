-- workerdelete: WorkerDelete of the stale workers. ARGV: heartbeat_before.
-- Deletes every worker whose last heartbeat is before it, and returns how
-- many. (workers: hash of id -> JSON; workers:beat: sorted set of ids by
-- heartbeat.)
local before = ARGV[1]
local K_WORKERS, K_BEATS = P .. 'workers', P .. 'workers:beat'
local ids = redis.call('ZRANGEBYSCORE', K_BEATS, '-inf', '(' .. before)
if #ids == 0 then return 0 end
vcall('ZREM', K_BEATS, ids)
local n = 0
for i = 1, #ids, 1000 do
  n = n + redis.call('HDEL', K_WORKERS, unpack(ids, i, math.min(i + 999, #ids)))
end
return n
