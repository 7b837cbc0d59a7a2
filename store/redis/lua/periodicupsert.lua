-- periodicupsert: PeriodicUpsert. ARGV: name, spec, kind, args, queue,
-- priority, max_attempts, timeout, catch_up, source, created_at,
-- updated_at, last_tick, next_tick, last_job_id. A new entry takes every
-- field; an existing one only its definition and updated_at. Returns the
-- entry's fields.
--
-- periodic:<name> is a hash of the entry's fields; periodic a sorted set
-- of the names (all of score 0, so sorted bytewise).
local name = ARGV[1]
local k = P .. 'periodic:' .. name
local def = { 'spec', ARGV[2], 'kind', ARGV[3], 'args', ARGV[4], 'queue', ARGV[5],
  'priority', ARGV[6], 'max_attempts', ARGV[7], 'timeout', ARGV[8], 'catch_up', ARGV[9],
  'source', ARGV[10], 'updated_at', ARGV[12] }
if redis.call('EXISTS', k) == 0 then
  def[#def + 1] = 'name'
  def[#def + 1] = name
  def[#def + 1] = 'created_at'
  def[#def + 1] = ARGV[11]
  def[#def + 1] = 'last_tick'
  def[#def + 1] = ARGV[13]
  def[#def + 1] = 'next_tick'
  def[#def + 1] = ARGV[14]
  def[#def + 1] = 'last_job_id'
  def[#def + 1] = ARGV[15]
  redis.call('ZADD', P .. 'periodic', 0, name)
end
redis.call('HSET', k, unpack(def))
return redis.call('HGETALL', k)
