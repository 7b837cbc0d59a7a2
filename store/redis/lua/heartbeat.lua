-- heartbeat: JobHeartbeat. ARGV: owner, lease_expires_at.
-- Returns {extended, {ids of jobs whose cancellation was requested}}.
local owner, lease = ARGV[1], ARGV[2]
local okey = ownerkey(owner)
local extended, cancel = 0, {}
local leases = list(batch.zadd, K_LEASES)
for _, id in ipairs(redis.call('SMEMBERS', okey)) do
  local k = jobkey(id)
  local h = redis.call('HMGET', k, 'state', 'lease_owner', 'cancel_requested')
  if h[1] == 'running' and h[2] == owner then
    redis.call('HSET', k, 'lease_expires_at', lease)
    leases[#leases + 1] = lease
    leases[#leases + 1] = id
    extended = extended + 1
    if h[3] == '1' then cancel[#cancel + 1] = id end
  else
    push(batch.srem, okey, id)
  end
end
flush()
return { extended, cancel }
