-- purge_history, one chunk of complete jobs. ARGV: before, limit. Deletes up to ``limit``
-- complete jobs finished before ``before`` with their dependency edges; unlike
-- purge_completed their error rows and logs stay, for their own retention windows. Returns
-- {deleted, ids looked at}.

local before, limit = ARGV[3], tonumber(ARGV[4])
local ids = redis.call('ZRANGE', DONE_KEY, '-inf', '(' .. before, 'BYSCORE', 'LIMIT', 0, limit)
local deleted = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', DONE_KEY, id)
  local job = load_job(id)
  if job and job.status == COMPLETE then
    for _, parent in ipairs(redis.call('LRANGE', deps_key(id), 0, -1)) do
      redis.call('LREM', dependents_key(parent), 0, id)
    end
    for _, child in ipairs(redis.call('LRANGE', dependents_key(id), 0, -1)) do
      redis.call('LREM', deps_key(child), 0, id)
    end
    redis.call('DEL', deps_key(id), dependents_key(id), job_key(id))
    redis.call('ZREM', CREATED_KEY, id)
    redis.call('ZREM', status_key(job.status, job.queue), id)
    redis.call('ZREM', bystatus_key(job.status), id)
    redis.call('ZREM', ENDED_KEY, id)
    redis.call('ZREM', RESULT_EXPIRY_KEY, id)
    deleted = deleted + 1
  end
end
return {deleted, #ids}
