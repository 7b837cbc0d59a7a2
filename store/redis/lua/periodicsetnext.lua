-- periodicsetnext: PeriodicSetNext. ARGV: name, next_tick.
local k = P .. 'periodic:' .. ARGV[1]
if redis.call('EXISTS', k) == 0 then return redis.error_reply('BOILER_NOTFOUND') end
redis.call('HSET', k, 'next_tick', ARGV[2])
return 0
