-- request_cancel. ARGV: job_id, level (1 cooperative, 2 forced). Flags a running job; a
-- request never downgrades. Returns 1, or 0 when the job is not running.

local id, level = ARGV[3], tonumber(ARGV[4])
local key = job_key(id)
local values = redis.call('HMGET', key, 'status', 'cancel_requested')
if values[1] ~= RUNNING then return 0 end
local current = tonumber(values[2] or '0') or 0
if level > current then current = level end
redis.call('HSET', key, 'cancel_requested', current)
redis.call('HSET', CANCELS_KEY, id, current)
publish()
return 1
