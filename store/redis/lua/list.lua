-- list: JobList, newest first. ARGV: max (a ZREVRANGEBYSCORE bound such as
-- '+inf' or '(42'), queue ('' for any), kind ('' for any), workflow (''
-- for any), limit, budget, then the states to list (none: every state).
--
-- It merges the id sets of the listed states (or reads the workflow's id
-- set, filtering by state), newest first, and reads at most about budget
-- ids so one call cannot block Redis for long. Returns {next, jobs}: next
-- is '' when the listing is complete (limit reached or no ids left), else
-- the bound to call again with; jobs holds {id, fields}.
local max, queue, kind, wf = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local srcs, states = {}, nil
if wf ~= '' then
  srcs[1] = wfkey(wf)
  if #ARGV >= 7 then
    states = {}
    for i = 7, #ARGV do states[ARGV[i]] = true end
  end
else
  for i = 7, #ARGV do srcs[#srcs + 1] = statekey(ARGV[i]) end
end
if #srcs == 0 then
  for _, st in ipairs({ 'waiting', 'scheduled', 'available', 'running', 'retryable', 'completed', 'discarded', 'cancelled' }) do
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
    local h = redis.call('HMGET', jobkey(id), 'queue', 'kind', 'state')
    if h[1] and (queue == '' or h[1] == queue) and (kind == '' or h[2] == kind) and
        (not states or states[h[3]]) then
      out[#out + 1] = { id, redis.call('HGETALL', jobkey(id)) }
      if #out >= limit then return { '', out } end
    end
  end
  if not horizon then return { '', out } end
  max = '(' .. string.format('%d', horizon)
  if scanned >= budget then return { max, out } end
end
