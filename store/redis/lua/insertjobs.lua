-- insertjobs.lua is prepended (after lib.lua) to the scripts that insert
-- jobs: insert and periodicfire.
--
-- insert_jobs inserts n jobs whose fields are a[base + 1 ...], NF per job:
-- kind, queue, priority, score (-priority), args, max_attempts, timeout,
-- state, run_at, unique_key, unique_until, workflow, run_on_failure ('1' or
-- ''), after (the indexes of earlier entries it waits for, comma-separated)
-- and after_ids (existing job ids it waits for, comma-separated).
--
-- It returns per job {id} for a new job without dependencies (the caller
-- knows its fields), {id, fields} for the live job that holds its unique
-- key, and {id, fields, 1} for a new job with dependencies (its state
-- depends on theirs). When an id of after_ids does not exist it returns the
-- error BOILER_DEPMISSING <entry> <id> and writes nothing.
local NF = 15
local function insert_jobs(now, a, base, n)
  -- Every dependency must exist before anything is written.
  for i = 0, n - 1 do
    local ids = a[base + i * NF + 15]
    if ids ~= '' then
      for id in string.gmatch(ids, '%d+') do
        if redis.call('EXISTS', jobkey(id)) == 0 then
          return redis.error_reply('BOILER_DEPMISSING ' .. i .. ' ' .. id)
        end
      end
    end
  end
  local out, queues, woken, entry_ids = {}, {}, {}, {}
  -- Ids come from one counter read and written once: the script is atomic.
  local last = tonumber(redis.call('GET', P .. 'id') or '0')
  for i = 0, n - 1 do
    local b = base + i * NF
    local kind, q, prio, sc, args = a[b + 1], a[b + 2], a[b + 3], a[b + 4], a[b + 5]
    local maxa, timeout, st, run_at = a[b + 6], a[b + 7], a[b + 8], a[b + 9]
    local ukey, uuntil, wf, rof, after, after_ids = a[b + 10], a[b + 11], a[b + 12], a[b + 13], a[b + 14], a[b + 15]
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
      local k = jobkey(id)
      -- The dependencies: earlier entries, then existing jobs, each once.
      local deps, seen = {}, {}
      if after ~= '' then
        for x in string.gmatch(after, '%d+') do
          local d = entry_ids[tonumber(x)]
          if not seen[d] then
            seen[d] = true
            deps[#deps + 1] = d
          end
        end
      end
      if after_ids ~= '' then
        for d in string.gmatch(after_ids, '%d+') do
          if not seen[d] then
            seen[d] = true
            deps[#deps + 1] = d
          end
        end
      end
      local fin, errs, left, open = '', '', 0, {}
      if #deps > 0 then
        -- Finalized dependencies count as finished at once; the first
        -- failed one cancels the job unless it runs on failure.
        local failed, fst = nil, nil
        for _, d in ipairs(deps) do
          local ds = redis.call('HGET', jobkey(d), 'state')
          if is_final(ds) then
            if ds ~= 'completed' and rof == '' and not failed then failed, fst = d, ds end
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
      end
      local fields = { 'kind', kind, 'queue', q, 'priority', prio, 'args', args, 'state', st,
        'attempt', '0', 'max_attempts', maxa, 'timeout', timeout,
        'enqueued_at', now, 'run_at', run_at, 'attempted_at', '', 'finalized_at', fin,
        'unique_key', ukey, 'unique_until', uuntil, 'lease_owner', '',
        'lease_expires_at', '', 'cancel_requested', '', 'errors', errs, 'result', '' }
      if wf ~= '' then
        fields[#fields + 1] = 'workflow'
        fields[#fields + 1] = wf
        push(batch.zadd, wfkey(wf), id, id)
      end
      if rof ~= '' then
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
      index(id, st, q, sc, run_at, nil, nil, fin)
      if ukey ~= '' and (uuntil ~= '' or fin == '') then redis.call('SET', P .. 'unique:' .. ukey, id) end
      queues[q] = true
      if st == 'available' then woken[q] = true end
      if #deps > 0 then
        out[#out + 1] = { id, redis.call('HGETALL', k), 1 }
      else
        out[#out + 1] = { id }
      end
    end
  end
  redis.call('SET', P .. 'id', string.format('%d', last))
  for q in pairs(queues) do push(batch.sadd, K_QUEUES, q) end
  flush()
  for q in pairs(woken) do wake(q) end
  return out
end
