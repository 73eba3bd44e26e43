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
    drop_finished(job)
    redis.call('DEL', job_key(id))
    deleted = deleted + 1
  end
end
return {deleted, #ids}
