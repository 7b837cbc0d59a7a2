-- lib.lua is prepended to every script. It holds the key layout and the
-- index bookkeeping shared by all state changes.
--
-- KEYS[1] is the key prefix. Times are microseconds since the Unix epoch,
-- passed by the caller (never Redis TIME) as 17-digit zero-padded strings,
-- so a time is stored, compared and put in a sorted-set member without
-- Lua converting it: Lua's number-to-string conversion is slow and rounds
-- to 14 digits. Ids are decimal strings without padding.
local P = KEYS[1]
local K_LEASES = P .. 'leases'
local K_PAUSED = P .. 'paused'
local K_QUEUES = P .. 'queues'
local K_INSERTS = P .. 'inserts'
local ZEROS = '0000000000000000'

local function jobkey(id) return P .. 'job:' .. id end

-- The other key names are built once per script run and kept in tables
-- (concatenation allocates; the hot loops ask for the same few keys again
-- and again).
local function cache(build)
  local t = {}
  return function(x)
    local k = t[x]
    if not k then
      k = build(x)
      t[x] = k
    end
    return k
  end
end
local qkeys = {}
local function qkey(q, suffix)
  local f = qkeys[suffix]
  if not f then
    f = cache(function(x) return P .. 'queue:' .. x .. ':' .. suffix end)
    qkeys[suffix] = f
  end
  return f(q)
end
local statekey = cache(function(st) return P .. 'state:' .. st end)
local ownerkey = cache(function(owner) return P .. 'owner:' .. owner end)
local finkey = cache(function(st) return P .. 'finalized:' .. st end)

-- The member of a job in its queue's available set. The set's score is
-- -priority, so ZPOPMIN takes the highest priority first; members of equal
-- score sort bytewise, and the fixed-width run_at then id give "RunAt, then
-- ID" within a priority.
local function member(run_at, id) return run_at .. string.sub(ZEROS .. id, -16) end
local function member_id(m) return string.match(m, '^0*(%d+)', 18) end
local function member_run_at(m) return tonumber(string.sub(m, 1, 17)) end
local function score(prio) return 0 - tonumber(prio) end

local function is_final(st)
  return st == 'completed' or st == 'discarded' or st == 'cancelled'
end

-- Index changes are collected during a script and applied by flush() at
-- its end, a few variadic commands instead of several per job: removals
-- first (so a member removed and added again stays), then additions, then
-- the counters' net changes. Job hashes are written at once. No script
-- reads an index after changing it through the batch (fetch moves due jobs
-- into the available set with direct calls before it pops).
local batch = { zrem = {}, srem = {}, zadd = {}, sadd = {}, incr = {} }

-- list returns the argument list of one command of the batch.
local function list(t, key)
  local l = t[key]
  if not l then
    l = {}
    t[key] = l
  end
  return l
end

local function push(t, key, a, b)
  local l = list(t, key)
  l[#l + 1] = a
  if b ~= nil then l[#l + 1] = b end
end

local function incr(q, field, d)
  local c = list(batch.incr, q)
  c[field] = (c[field] or 0) + d
end

-- vcall runs a variadic command over a long argument list in chunks that
-- fit Lua's unpack (the chunk size is even, for score/member pairs).
local function vcall(cmd, key, args)
  for i = 1, #args, 1000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 999, #args)))
  end
end

local function flush()
  for key, l in pairs(batch.zrem) do vcall('ZREM', key, l) end
  for key, l in pairs(batch.srem) do vcall('SREM', key, l) end
  for key, l in pairs(batch.zadd) do vcall('ZADD', key, l) end
  for key, l in pairs(batch.sadd) do vcall('SADD', key, l) end
  for q, c in pairs(batch.incr) do
    for field, d in pairs(c) do
      if d ~= 0 then redis.call('HINCRBY', qkey(q, 'counts'), field, d) end
    end
  end
  batch = { zrem = {}, srem = {}, zadd = {}, sadd = {}, incr = {} }
end

-- unindex removes job id (state st, queue q) from every index of its state.
-- A scheduled or retryable job may already sit in the available set (it was
-- promoted when due), so both places are cleared.
local function unindex(id, st, q, run_at, owner)
  push(batch.zrem, statekey(st), id)
  if st == 'available' or st == 'scheduled' or st == 'retryable' then
    push(batch.zrem, qkey(q, 'available'), member(run_at, id))
    if st ~= 'available' then push(batch.zrem, qkey(q, st), id) end
  elseif st == 'running' then
    push(batch.zrem, K_LEASES, id)
    push(batch.srem, ownerkey(owner), id)
    incr(q, 'running', -1)
  elseif st == 'waiting' then
    incr(q, 'waiting', -1)
  else
    push(batch.zrem, finkey(st), id)
    incr(q, st, -1)
  end
end

-- index adds job id to the indexes of its new state st. sc is the job's
-- score in the available set (-priority).
local function index(id, st, q, sc, run_at, lease, owner, fin)
  push(batch.zadd, statekey(st), id, id)
  if st == 'available' then
    push(batch.zadd, qkey(q, 'available'), sc, member(run_at, id))
  elseif st == 'scheduled' or st == 'retryable' then
    push(batch.zadd, qkey(q, st), run_at, id)
  elseif st == 'running' then
    push(batch.zadd, K_LEASES, lease, id)
    push(batch.sadd, ownerkey(owner), id)
    incr(q, 'running', 1)
  elseif st == 'waiting' then
    incr(q, 'waiting', 1)
  else
    push(batch.zadd, finkey(st), fin, id)
    incr(q, st, 1)
  end
end

-- holds reports whether job id still holds its unique key at now: until
-- its unique_until when set (whatever its state), else while not final.
local function holds(id, now)
  local h = redis.call('HMGET', jobkey(id), 'state', 'unique_until')
  if not h[1] then return false end
  if h[2] and h[2] ~= '' then return now < h[2] end
  return not is_final(h[1])
end

-- release_unique frees job id's unique key if id is its holder.
local function release_unique(id, ukey)
  if ukey and ukey ~= '' then
    local k = P .. 'unique:' .. ukey
    if redis.call('GET', k) == id then redis.call('DEL', k) end
  end
end

-- append_error adds one JSON AttemptError to a JSON array.
local function append_error(errs, e)
  if not errs or errs == '' then return '[' .. e .. ']' end
  return string.sub(errs, 1, -2) .. ',' .. e .. ']'
end

local function wake(q) redis.call('PUBLISH', K_INSERTS, q) end

-- The job fields every script reads before changing a job's state.
-- waited is '1' once another job waits for this one (see finish).
local F_STATE, F_QUEUE, F_PRIO, F_RUN, F_OWNER, F_ATTEMPT, F_UKEY, F_UUNTIL, F_WAITED, F_WF, F_DEPS =
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
local function load(id)
  return redis.call('HMGET', jobkey(id), 'state', 'queue', 'priority', 'run_at',
    'lease_owner', 'attempt', 'unique_key', 'unique_until', 'waited', 'workflow', 'deps')
end

-- Workflows and dependencies (store.DepsPolicy).
--
--   workflow:<w>  sorted set of the ids of workflow w's jobs (score: id)
--   waiters:<id>  set of the jobs waiting for job id, deleted when id is
--                 finalized; the job's field waited = '1' says it exists,
--                 so finishing a job nobody waits for reads one more field
--                 of a hash it reads anyway, and runs no command.
--
-- A waiting job is in state:waiting and counted in its queue's counts
-- (field waiting), and in no set a fetch reads. Its fields deps (the ids it
-- waits for, comma-separated), deps_left and run_on_failure say how it
-- leaves.
local function wfkey(w) return P .. 'workflow:' .. w end
local function waiterskey(id) return P .. 'waiters:' .. id end

-- iso formats a time (microseconds since 1970, as a string) as RFC 3339 in
-- UTC with microseconds, the JSON form of a Go time.Time.
local function iso(t)
  local us = tonumber(t)
  local secs = math.floor(us / 1000000)
  local frac = us - secs * 1000000
  -- The division rounds near whole seconds; the remainder says which way.
  if frac < 0 then
    secs, frac = secs - 1, frac + 1000000
  elseif frac >= 1000000 then
    secs, frac = secs + 1, frac - 1000000
  end
  local days = math.floor(secs / 86400)
  local sod = secs - days * 86400
  -- Howard Hinnant's civil_from_days.
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', y, m, d,
    math.floor(sod / 3600), math.floor((sod % 3600) / 60), sod % 60, frac)
end

-- dep_error is the JSON AttemptError of a job cancelled because its
-- dependency dep ended in state st at now.
local function dep_error(dep, st, now)
  return '{"attempt":0,"at":"' .. iso(now) .. '","error":"dependency job ' .. dep .. ' was ' .. st .. '"}'
end

-- by_id sorts ids (strings) by number, so waiters are handled in a fixed
-- order.
local function by_id(a, b) return tonumber(a) < tonumber(b) end

-- finish updates the jobs waiting for job id, which reached final state st
-- at now (a deletion counts as cancelled), as store.DepsPolicy says: each
-- waiting job is decremented, made available (or scheduled) at zero, or
-- cancelled, and a cancelled one finishes in turn for its own waiters.
-- Callers call it only for a job whose field waited is '1'. The queues of
-- jobs made available are added to woken.
local function finish(id, st, now, woken)
  local todo, i = { id, st }, 1
  while i < #todo do
    local dep, dst = todo[i], todo[i + 1]
    i = i + 2
    local wk = waiterskey(dep)
    local ws = redis.call('SMEMBERS', wk)
    redis.call('DEL', wk)
    redis.call('HDEL', jobkey(dep), 'waited')
    table.sort(ws, by_id)
    for _, w in ipairs(ws) do
      local k = jobkey(w)
      local h = redis.call('HMGET', k, 'state', 'deps_left', 'run_on_failure', 'queue', 'priority',
        'run_at', 'unique_key', 'unique_until', 'waited', 'errors')
      if h[1] == 'waiting' then
        local q = h[4]
        if dst == 'completed' or h[3] == '1' then
          local left = (tonumber(h[2]) or 1) - 1
          if left > 0 then
            redis.call('HSET', k, 'deps_left', string.format('%d', left))
          else
            unindex(w, 'waiting', q)
            if h[6] > now then
              redis.call('HSET', k, 'state', 'scheduled', 'deps_left', '0')
              index(w, 'scheduled', q, nil, h[6])
            else
              redis.call('HSET', k, 'state', 'available', 'run_at', now, 'deps_left', '0')
              index(w, 'available', q, score(h[5]), now)
              woken[q] = true
            end
          end
        else
          unindex(w, 'waiting', q)
          redis.call('HSET', k, 'state', 'cancelled', 'finalized_at', now,
            'errors', append_error(h[10], dep_error(dep, dst, now)))
          if h[8] == '' then release_unique(w, h[7]) end
          index(w, 'cancelled', q, nil, nil, nil, nil, now)
          if h[9] == '1' then
            todo[#todo + 1] = w
            todo[#todo + 1] = 'cancelled'
          end
        end
      end
    end
  end
end
