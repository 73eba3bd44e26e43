-- defer_many. ARGV: now, then (job id, attempt, until, worker id) for each deferral. Each
-- applies only while the job is running under that attempt for that worker (fenced like finish): the job goes back to
-- pending with scheduled_at = until, started_at and the lease and worker cleared; retry
-- count, error and any cancel request stay (a request applies to the next attempt at
-- once, as after an expired lease). No error row. Returns one 1/0 per deferral.

local applied = {}
local any = false
for i = 4, #ARGV, 4 do
  local id, attempt, until_ms, worker_id = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local job = load_job(id)
  if not job or job.status ~= RUNNING or job.attempt ~= attempt or job.worker_id ~= worker_id
  then
    applied[#applied + 1] = 0
  else
    local key = job_key(id)
    leave_running(job)
    redis.call('HSET', key, 'status', PENDING, 'scheduled_at', until_ms)
    redis.call('HDEL', key, 'started_at')
    move_status(job, RUNNING, PENDING)
    job.scheduled_at = until_ms
    enter_pending(job)
    applied[#applied + 1] = 1
    any = true
  end
end
if any then publish() end
return applied
