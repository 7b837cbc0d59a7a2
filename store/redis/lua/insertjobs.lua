-- insertjobs.lua is prepended (after lib.lua) to the scripts that insert
-- jobs: insert and periodicfire.
--
-- insert_jobs inserts n jobs whose fields start at a[base + 1]. Each job
-- has 12 fields: kind, queue, priority, score (-priority), args,
-- max_attempts, timeout, state, run_at, unique_key, unique_until and
-- extra; when extra is '1', 4 more follow: workflow, run_on_failure ('1'
-- or ''), after (the indexes of earlier entries it waits for,
-- comma-separated) and after_ids (existing job ids it waits for,
-- comma-separated). Plain jobs, the bulk of every insert, so pass no
-- empty strings for features they do not use.
--
-- It returns per job {id} for a new job without dependencies (the caller
-- knows its fields), {id, fields} for the live job that holds its unique
-- key, and {id, fields, 1} for a new job with dependencies (its state
-- depends on theirs). When an id of after_ids does not exist it returns the
-- error BOILER_DEPMISSING <entry> <id> and writes nothing.

-- insert_extra writes new job id of the table j (the fields above by name)
-- that has a workflow, runs on failure or has dependencies. entry_ids maps
-- the entries of the call inserted so far to their ids. It returns the
-- job's final state and its finalized_at ('' unless cancelled at once).
local function insert_extra(id, j, now, entry_ids)
  local k = jobkey(id)
  -- The dependencies: earlier entries, then existing jobs, each once.
  local deps, seen = {}, {}
  for x in string.gmatch(j.after, '%d+') do
    local d = entry_ids[tonumber(x)]
    if not seen[d] then
      seen[d] = true
      deps[#deps + 1] = d
    end
  end
  for d in string.gmatch(j.after_ids, '%d+') do
    if not seen[d] then
      seen[d] = true
      deps[#deps + 1] = d
    end
  end
  -- Finalized dependencies count as finished at once; the first failed one
  -- cancels the job unless it runs on failure.
  local st, fin, errs, left, open, failed, fst = j.st, '', '', 0, {}, nil, nil
  for _, d in ipairs(deps) do
    local ds = redis.call('HGET', jobkey(d), 'state')
    if is_final(ds) then
      if ds ~= 'completed' and j.rof == '' and not failed then failed, fst = d, ds end
    else
      left = left + 1
      open[#open + 1] = d
    end
  end
  if failed then
    st, fin, errs = 'cancelled', now, '[' .. dep_error(failed, fst, now) .. ']'
  elseif left > 0 then
    st = 'waiting'
  end
  local fields = { 'kind', j.kind, 'queue', j.q, 'priority', j.prio, 'args', j.args, 'state', st,
    'attempt', '0', 'max_attempts', j.maxa, 'timeout', j.timeout,
    'enqueued_at', now, 'run_at', j.run_at, 'attempted_at', '', 'finalized_at', fin,
    'unique_key', j.ukey, 'unique_until', j.uuntil, 'lease_owner', '',
    'lease_expires_at', '', 'cancel_requested', '', 'errors', errs, 'result', '' }
  if j.wf ~= '' then
    fields[#fields + 1] = 'workflow'
    fields[#fields + 1] = j.wf
    push(batch.zadd, wfkey(j.wf), id, id)
  end
  if j.rof ~= '' then
    fields[#fields + 1] = 'run_on_failure'
    fields[#fields + 1] = '1'
  end
  if #deps > 0 then
    fields[#fields + 1] = 'deps'
    fields[#fields + 1] = table.concat(deps, ',')
    fields[#fields + 1] = 'deps_left'
    fields[#fields + 1] = string.format('%d', left)
    if st == 'waiting' then
      for _, d in ipairs(open) do
        redis.call('SADD', waiterskey(d), id)
        redis.call('HSET', jobkey(d), 'waited', '1')
      end
    end
  end
  redis.call('HSET', k, unpack(fields))
  return st, fin, #deps > 0
end

local function insert_jobs(now, a, base, n)
  -- Every dependency must exist before anything is written.
  local b = base
  for i = 0, n - 1 do
    if a[b + 12] == '1' then
      for id in string.gmatch(a[b + 16], '%d+') do
        if redis.call('EXISTS', jobkey(id)) == 0 then
          return redis.error_reply('BOILER_DEPMISSING ' .. i .. ' ' .. id)
        end
      end
      b = b + 16
    else
      b = b + 12
    end
  end
  local out, queues, woken, entry_ids = {}, {}, {}, {}
  -- Ids come from one counter read and written once: the script is atomic.
  local last = tonumber(redis.call('GET', P .. 'id') or '0')
  b = base
  for i = 0, n - 1 do
    local kind, q, prio, sc, args = a[b + 1], a[b + 2], a[b + 3], a[b + 4], a[b + 5]
    local maxa, timeout, st, run_at = a[b + 6], a[b + 7], a[b + 8], a[b + 9]
    local ukey, uuntil, extra = a[b + 10], a[b + 11], a[b + 12] == '1'
    local holder = nil
    if ukey ~= '' then
      local h = redis.call('GET', P .. 'unique:' .. ukey)
      if h and holds(h, now) then holder = h end
    end
    if holder then
      entry_ids[i] = holder
      out[#out + 1] = { holder, redis.call('HGETALL', jobkey(holder)) }
    else
      last = last + 1
      local id = string.format('%d', last)
      entry_ids[i] = id
      local fin, has_deps = '', false
      if extra then
        st, fin, has_deps = insert_extra(id, {
          kind = kind, q = q, prio = prio, args = args, maxa = maxa, timeout = timeout, st = st,
          run_at = run_at, ukey = ukey, uuntil = uuntil,
          wf = a[b + 13], rof = a[b + 14], after = a[b + 15], after_ids = a[b + 16],
        }, now, entry_ids)
      else
        redis.call('HSET', jobkey(id),
          'kind', kind, 'queue', q, 'priority', prio, 'args', args, 'state', st,
          'attempt', '0', 'max_attempts', maxa, 'timeout', timeout,
          'enqueued_at', now, 'run_at', run_at, 'attempted_at', '', 'finalized_at', '',
          'unique_key', ukey, 'unique_until', uuntil, 'lease_owner', '',
          'lease_expires_at', '', 'cancel_requested', '', 'errors', '', 'result', '')
      end
      index(id, st, q, sc, run_at, nil, nil, fin)
      -- A job cancelled at once holds its key only within its window.
      if ukey ~= '' and (fin == '' or uuntil ~= '') then redis.call('SET', P .. 'unique:' .. ukey, id) end
      queues[q] = true
      if st == 'available' then woken[q] = true end
      if has_deps then
        out[#out + 1] = { id, redis.call('HGETALL', jobkey(id)), 1 }
      else
        out[#out + 1] = { id }
      end
    end
    if extra then b = b + 16 else b = b + 12 end
  end
  redis.call('SET', P .. 'id', string.format('%d', last))
  for q in pairs(queues) do push(batch.sadd, K_QUEUES, q) end
  flush()
  for q in pairs(woken) do wake(q) end
  return out
end
