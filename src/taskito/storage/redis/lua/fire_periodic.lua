-- fire_periodic (after lib_enqueue). ARGV: schedule name, slot, next run, packed job. When
-- the schedule's next_run is still ``slot``: last_run = slot, next_run = next run, and the
-- job is enqueued as enqueue does (a held unique key returns its holder). Returns {'new'},
-- {'existing', packed holder}, or false when the slot was fired already or the schedule is
-- paused or gone (nothing changes).

local name, slot, next_run = ARGV[3], ARGV[4], ARGV[5]
local key = periodic_key(name)
local current = redis.call('HMGET', key, 'next_run', 'enabled')
if current[1] ~= slot or current[2] ~= '1' then return false end

local jobs = {parse_new_job(ARGV[6])}
local holder, problem = check_new_jobs(jobs, 'one')
if problem then return redis.error_reply(problem) end

redis.call('HSET', key, 'last_run', slot, 'next_run', next_run)
redis.call('ZADD', PERIODIC_DUE_KEY, next_run, name)
if holder then return {'existing', pack_job(holder)} end
insert_new_jobs(jobs)
publish()
return {'new'}
