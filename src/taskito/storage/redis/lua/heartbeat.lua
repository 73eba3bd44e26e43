-- heartbeat. ARGV: worker_id, status, now, resource health (JSON; "" keeps the stored one).
-- Updates a registered worker only.

local worker_id, status, now, health = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if redis.call('HEXISTS', P .. ':workers', worker_id) == 0 then return 0 end
redis.call('HSET', P .. ':workerstatus', worker_id, status)
redis.call('ZADD', P .. ':heartbeats', now, worker_id)
if health ~= nil and health ~= '' then
  redis.call('HSET', P .. ':workerhealth', worker_id, health)
end
return 1
