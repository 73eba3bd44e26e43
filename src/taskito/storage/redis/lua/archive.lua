-- archive_jobs, one chunk. ARGV: before, limit. Moves up to ``limit`` finished jobs with
-- completed_at before ``before`` (complete ones from DONE_KEY first, then the failed, dead
-- and cancelled ones from ENDED_KEY) into the archive: the job hash is renamed to
-- archived:<id> with every field kept and indexed in ARCHIVE_KEY by completed_at; side rows
-- go as purge_completed treats them. Returns {moved, ids looked at}.

local before, limit = ARGV[3], tonumber(ARGV[4])

local moved, looked_at = 0, 0
for _, index in ipairs({DONE_KEY, ENDED_KEY}) do
  if looked_at >= limit then break end
  local ids = redis.call('ZRANGE', index, '-inf', '(' .. before, 'BYSCORE',
    'LIMIT', 0, limit - looked_at)
  looked_at = looked_at + #ids
  for _, id in ipairs(ids) do
    redis.call('ZREM', index, id)
    local job = load_job(id)
    if job and FINISHED[job.status] then
      local completed_at = redis.call('HGET', job_key(id), 'completed_at') or '0'
      drop_finished(job)
      redis.call('RENAME', job_key(id), archived_key(id))
      redis.call('ZADD', ARCHIVE_KEY, completed_at, id)
      moved = moved + 1
    end
  end
end
return {moved, looked_at}
