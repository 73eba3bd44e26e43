-- heartbeat. ARGV: worker_id, status, now. Updates a registered worker only.

local worker_id, status, now = ARGV[3], ARGV[4], ARGV[5]
if redis.call('HEXISTS', P .. ':workers', worker_id) == 0 then return 0 end
redis.call('HSET', P .. ':workerstatus', worker_id, status)
redis.call('ZADD', P .. ':heartbeats', now, worker_id)
return 1
