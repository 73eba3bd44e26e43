-- purge_completed, one chunk. ARGV: before, limit. Deletes up to ``limit`` complete jobs
-- finished before ``before`` with their error rows, logs and dependency edges. Returns
-- {deleted, ids looked at}.

local before, limit = ARGV[3], tonumber(ARGV[4])

local ids = redis.call('ZRANGE', DONE_KEY, '-inf', '(' .. before, 'BYSCORE', 'LIMIT', 0, limit)
local deleted = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', DONE_KEY, id)
  local job = load_job(id)
  if job and job.status == COMPLETE then
    for _, seq in ipairs(redis.call('LRANGE', job_logs_key(id), 0, -1)) do
      redis.call('HDEL', LOGS_KEY, seq)
      redis.call('ZREM', LOG_INDEX_KEY, seq)
    end
    for _, parent in ipairs(redis.call('LRANGE', deps_key(id), 0, -1)) do
      redis.call('LREM', dependents_key(parent), 0, id)
    end
    for _, child in ipairs(redis.call('LRANGE', dependents_key(id), 0, -1)) do
      redis.call('LREM', deps_key(child), 0, id)
    end
    redis.call('DEL', job_key(id), errors_key(id), job_logs_key(id), deps_key(id),
      dependents_key(id))
    redis.call('ZREM', CREATED_KEY, id)
    redis.call('ZREM', status_key(COMPLETE, job.queue), id)
    redis.call('ZREM', bystatus_key(COMPLETE), id)
    deleted = deleted + 1
  end
end
return {deleted, #ids}
