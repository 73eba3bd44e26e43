-- extend_leases. ARGV: worker_id, lease deadline (server clock), job ids...
-- Returns the ids still running under worker_id, now with the new lease.

local worker_id, lease = ARGV[3], ARGV[4]
local held = {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local values = redis.call('HMGET', job_key(id), 'status', 'worker_id')
  if values[1] == RUNNING and values[2] == worker_id then
    redis.call('HSET', job_key(id), 'lease_expires_at', lease)
    redis.call('ZADD', RUNNING_KEY, lease, id)
    held[#held + 1] = id
  end
end
return held
