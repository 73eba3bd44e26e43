-- Circuit breakers. breaker:<task> is a hash of the state ('closed', 'open', 'half_open'),
-- its counters and times, and the latest config; the breakers set lists the task names.
-- ARGV[3]: 'admit', 'record' or 'list'.
--   admit: task, threshold, window_ms, cooldown_ms, half_open_probes, success rate, now.
--     Returns false (admitted) or when to try again (ms).
--   record: the same, then '1' (completed) or '0' (failed). Returns 0.
--   list: every breaker's fields (HGETALL) with 'task_name', by task name.

local mode = ARGV[3]

if mode == 'list' then
  local tasks = redis.call('SMEMBERS', BREAKERS_KEY)
  table.sort(tasks)
  local all = {}
  for _, task in ipairs(tasks) do
    local fields = redis.call('HGETALL', breaker_key(task))
    fields[#fields + 1] = 'task_name'
    fields[#fields + 1] = task
    all[#all + 1] = fields
  end
  return all
end

local task = ARGV[4]
local key = breaker_key(task)
local threshold, window, cooldown = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local probes, rate, now = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])

-- The breaker as stored, created closed on first use; the given config replaces the stored.
local function load_breaker()
  local state = redis.call('HGET', key, 'state')
  if not state then
    state = 'closed'
    redis.call('HSET', key, 'state', state, 'failure_count', 0, 'probes_started', 0,
      'probe_successes', 0, 'probe_failures', 0)
    redis.call('SADD', BREAKERS_KEY, task)
  end
  redis.call('HSET', key, 'threshold', ARGV[5], 'window_ms', ARGV[6], 'cooldown_ms', ARGV[7],
    'half_open_probes', ARGV[8], 'half_open_success_rate', ARGV[9])
  return state
end

local function number(field)
  return tonumber(redis.call('HGET', key, field) or '0')
end

local function set_state(state, opened_at)
  redis.call('HSET', key, 'state', state, 'probes_started', 0, 'probe_successes', 0,
    'probe_failures', 0)
  if opened_at then redis.call('HSET', key, 'opened_at', opened_at) end
end

-- Open and cooled down, or half open with every probe out for a whole cooldown (probes that
-- never reported): a new probe round begins with this job.
local function admit(state)
  if state == 'closed' then return false end
  if state == 'half_open' and number('probes_started') < probes then
    redis.call('HINCRBY', key, 'probes_started', 1)
    return false
  end
  local cooled_at = number('opened_at') + cooldown
  if now < cooled_at then
    if state == 'open' then return int(cooled_at) end
    return int(math.min(cooled_at, now + 1000))
  end
  set_state('half_open', ARGV[10])
  redis.call('HSET', key, 'probes_started', 1)
  return false
end

local function record_closed(ok)
  if ok then return end
  local count = 1
  local last = redis.call('HGET', key, 'last_failure_at')
  if last and now - tonumber(last) <= window then count = number('failure_count') + 1 end
  redis.call('HSET', key, 'failure_count', count, 'last_failure_at', ARGV[10])
  if count >= threshold then set_state('open', ARGV[10]) end
end

local function record_probe(ok)
  local successes = number('probe_successes')
  local failures = number('probe_failures')
  if ok then
    successes = redis.call('HINCRBY', key, 'probe_successes', 1)
  else
    failures = redis.call('HINCRBY', key, 'probe_failures', 1)
  end
  if successes / probes >= rate then
    set_state('closed', nil)
    redis.call('HSET', key, 'failure_count', 0)
    redis.call('HDEL', key, 'opened_at')
  elseif (probes - failures) / probes < rate then
    set_state('open', ARGV[10])
  end
end

local state = load_breaker()
if mode == 'admit' then return admit(state) end
if state == 'closed' then
  record_closed(ARGV[11] == '1')
elseif state == 'half_open' then
  record_probe(ARGV[11] == '1')
end
return 0
