-- purge_expired_results, one chunk. ARGV: now, limit. Deletes up to ``limit`` finished jobs
-- whose result_ttl_ms ran out (completed_at + result_ttl_ms <= now), with their side rows
-- as purge_completed treats them. Returns {deleted, ids looked at}.

local now, limit = ARGV[3], tonumber(ARGV[4])

local ids = redis.call('ZRANGE', RESULT_EXPIRY_KEY, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
local deleted = 0
for _, id in ipairs(ids) do
  redis.call('ZREM', RESULT_EXPIRY_KEY, id)
  local job = load_job(id)
  if job and FINISHED[job.status] then
    drop_finished(job)
    redis.call('DEL', job_key(id))
    deleted = deleted + 1
  end
end
return {deleted, #ids}
