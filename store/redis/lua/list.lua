-- list: JobList, newest first. ARGV: max (a ZREVRANGEBYSCORE bound such as
-- '+inf' or '(42'), queue ('' for any), kind ('' for any), limit, budget,
-- then the states to list (none: every state).
--
-- It merges the id sets of the listed states, newest first, and reads at
-- most about budget ids so one call cannot block Redis for long. Returns
-- {next, jobs}: next is '' when the listing is complete (limit reached or
-- no ids left), else the bound to call again with; jobs holds {id, fields}.
local max, queue, kind = ARGV[1], ARGV[2], ARGV[3]
local limit, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local srcs = {}
for i = 6, #ARGV do srcs[#srcs + 1] = statekey(ARGV[i]) end
if #srcs == 0 then
  for _, st in ipairs({ 'scheduled', 'available', 'running', 'retryable', 'completed', 'discarded', 'cancelled' }) do
    srcs[#srcs + 1] = statekey(st)
  end
end
local chunk = math.max(limit, 100)
local out, scanned = {}, 0
while true do
  -- Every id at or above horizon is known: the sources that returned a
  -- full chunk may hold more ids, but only below their last one.
  local merged, horizon = {}, nil
  for _, key in ipairs(srcs) do
    local ids = redis.call('ZREVRANGEBYSCORE', key, max, '-inf', 'LIMIT', 0, chunk)
    for _, id in ipairs(ids) do merged[#merged + 1] = tonumber(id) end
    if #ids == chunk then
      local last = tonumber(ids[#ids])
      if not horizon or last > horizon then horizon = last end
    end
  end
  table.sort(merged, function(a, b) return a > b end)
  for _, n in ipairs(merged) do
    if horizon and n < horizon then break end
    scanned = scanned + 1
    local id = string.format('%d', n)
    local h = redis.call('HMGET', jobkey(id), 'queue', 'kind')
    if h[1] and (queue == '' or h[1] == queue) and (kind == '' or h[2] == kind) then
      out[#out + 1] = { id, redis.call('HGETALL', jobkey(id)) }
      if #out >= limit then return { '', out } end
    end
  end
  if not horizon then return { '', out } end
  max = '(' .. string.format('%d', horizon)
  if scanned >= budget then return { max, out } end
end
