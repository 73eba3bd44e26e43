-- purge_queue / revoke_task, one chunk. ARGV: 'queue' or 'task', its name, now, error,
-- limit. Cancels up to ``limit`` pending jobs of the queue (every namespace) or of the task
-- with the error, without a cascade. Returns {cancelled, ids looked at}.

local by, name, now, message, limit = ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])

local ids
if by == 'queue' then
  ids = redis.call('ZRANGE', status_key(PENDING, name), 0, limit - 1)
else
  ids = redis.call('SRANDMEMBER', task_pending_key(name), limit)
end

local cancelled = 0
for _, id in ipairs(ids) do
  local job = load_job(id)
  if job and job.status == PENDING then
    cancel_pending_job(job, now, message)
    cancelled = cancelled + 1
  elseif by == 'task' then
    redis.call('SREM', task_pending_key(name), id)
  else
    redis.call('ZREM', status_key(PENDING, name), id)
  end
end
if cancelled > 0 then publish() end
return {cancelled, #ids}
