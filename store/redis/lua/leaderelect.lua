-- leaderelect: LeaderElect. ARGV: name, holder, now, expires_at, ttl (ms,
-- a safety net only). Holder wins the leadership if nobody holds it, the
-- lease expired before now, or holder already holds it. Returns 1 if holder
-- leads after the call, else 0.
--
-- leader:<name> is a hash: holder, expires_at. The times are the callers';
-- the key's own expiry (PEXPIRE, well after expires_at) only removes a
-- leadership nobody renews any more.
local name, holder, now, expires, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local k = P .. 'leader:' .. name
local h = redis.call('HMGET', k, 'holder', 'expires_at')
if h[1] and h[1] ~= holder and h[2] >= now then return 0 end
redis.call('HSET', k, 'holder', holder, 'expires_at', expires)
redis.call('PEXPIRE', k, ttl)
return 1
