-- reap_workers. ARGV: stale_before. Removes workers whose last heartbeat is older; returns
-- their ids.

local stale = redis.call('ZRANGE', P .. ':heartbeats', '-inf', '(' .. ARGV[3], 'BYSCORE')
for _, worker_id in ipairs(stale) do
  redis.call('HDEL', P .. ':workers', worker_id)
  redis.call('HDEL', P .. ':workerstatus', worker_id)
  redis.call('HDEL', P .. ':workerhealth', worker_id)
  redis.call('ZREM', P .. ':heartbeats', worker_id)
end
return stale
