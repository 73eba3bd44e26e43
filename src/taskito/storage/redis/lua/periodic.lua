-- Periodic schedules: periodic:<name> is a hash of the schedule's fields (enabled as '1'/'0',
-- absent timezone and last_run missing); periodics lists every name; periodicdue holds the
-- enabled ones by next_run. ARGV[3]: 'register', 'due', 'all', 'enable', 'retime' or 'delete'.
--   register: the packed schedule (name, task_name, cron, timezone, queue, payload, next_run,
--     last_run, enabled). Same cron and timezone as stored: next_run and last_run are kept;
--     otherwise the given next_run is taken (a stored last_run stays: it still happened). A
--     stored schedule keeps its enabled (a restart never resumes a paused one).
--     Returns the stored fields.
--   enable: name, '1'/'0', next_run ('' keeps it). retime: name, cron, timezone ('' for
--     none), next_run. delete: name. Each returns 1, or 0 when there is no such schedule.
--   due: now. The enabled schedules with next_run <= now, by next_run then name.
--   all: every schedule, by name.
-- A schedule comes back as its fields (HGETALL).

local SCHEDULE_FIELDS = {
  'name', 'task_name', 'cron', 'timezone', 'queue', 'payload', 'next_run', 'last_run', 'enabled',
}

local mode = ARGV[3]

if mode == 'due' then
  local found = {}
  for _, name in ipairs(redis.call('ZRANGE', PERIODIC_DUE_KEY, '-inf', ARGV[4], 'BYSCORE')) do
    found[#found + 1] = redis.call('HGETALL', periodic_key(name))
  end
  return found
end

if mode == 'all' then
  local names = redis.call('SMEMBERS', PERIODICS_KEY)
  table.sort(names)
  local found = {}
  for _, name in ipairs(names) do found[#found + 1] = redis.call('HGETALL', periodic_key(name)) end
  return found
end

if mode == 'enable' or mode == 'retime' or mode == 'delete' then
  local name = ARGV[4]
  local key = periodic_key(name)
  if redis.call('EXISTS', key) == 0 then return 0 end
  if mode == 'delete' then
    redis.call('DEL', key)
    redis.call('SREM', PERIODICS_KEY, name)
    redis.call('ZREM', PERIODIC_DUE_KEY, name)
    return 1
  end
  if mode == 'enable' then
    redis.call('HSET', key, 'enabled', ARGV[5])
    if ARGV[6] ~= '' then redis.call('HSET', key, 'next_run', ARGV[6]) end
  else
    redis.call('HSET', key, 'cron', ARGV[5], 'next_run', ARGV[7])
    if ARGV[6] == '' then
      redis.call('HDEL', key, 'timezone')
    else
      redis.call('HSET', key, 'timezone', ARGV[6])
    end
  end
  if redis.call('HGET', key, 'enabled') == '1' then
    redis.call('ZADD', PERIODIC_DUE_KEY, redis.call('HGET', key, 'next_run'), name)
  else
    redis.call('ZREM', PERIODIC_DUE_KEY, name)
  end
  return 1
end

local given = unpack_fields(ARGV[4], #SCHEDULE_FIELDS)
local schedule = {}
for i, field in ipairs(SCHEDULE_FIELDS) do schedule[field] = given[i] end
local key = periodic_key(schedule.name)
local stored = redis.call('HMGET', key, 'cron', 'timezone', 'next_run', 'last_run', 'enabled')
if stored[1] then
  schedule.enabled = stored[5]
  if stored[1] == schedule.cron and stored[2] == schedule.timezone then
    schedule.next_run, schedule.last_run = stored[3], stored[4]
  else
    schedule.last_run = stored[4] or schedule.last_run
  end
end

local fields, absent = {}, {}
for _, field in ipairs(SCHEDULE_FIELDS) do
  if schedule[field] then
    fields[#fields + 1] = field
    fields[#fields + 1] = schedule[field]
  else
    absent[#absent + 1] = field
  end
end
redis.call('HSET', key, unpack(fields))
if #absent > 0 then redis.call('HDEL', key, unpack(absent)) end
redis.call('SADD', PERIODICS_KEY, schedule.name)
if schedule.enabled == '1' then
  redis.call('ZADD', PERIODIC_DUE_KEY, schedule.next_run, schedule.name)
else
  redis.call('ZREM', PERIODIC_DUE_KEY, schedule.name)
end
return redis.call('HGETALL', key)
