-- leaderresign: LeaderResign. ARGV: name, holder. Frees the leadership
-- if holder holds it.
local k = P .. 'leader:' .. ARGV[1]
if redis.call('HGET', k, 'holder') == ARGV[2] then redis.call('DEL', k) end
return 0
