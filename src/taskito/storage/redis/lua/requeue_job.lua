-- requeue_job. ARGV: job id, '1' when a namespace follows ('0': none), namespace, now. A
-- running job of that namespace goes back to pending as a fresh attempt (Storage.requeue_job):
-- its worker's claim is dropped, its retry and rescue counts stay, an error row says why.
-- Returns 1, or 0 when no running job of that namespace has the id.

local id, has_ns, ns, now = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local job = load_job(id)
if not job or job.status ~= RUNNING then return 0 end
local key = job_key(id)
local stored = redis.call('HGET', key, 'namespace')
if has_ns == '1' then
  if stored ~= ns then return 0 end
elseif stored then
  return 0
end
local worker = job.worker_id or 'unknown'
leave_running(job)
redis.call('HSET', key, 'status', PENDING, 'scheduled_at', now, 'cancel_requested', 0)
redis.call('HDEL', key, 'started_at', 'completed_at', 'error')
move_status(job, RUNNING, PENDING)
job.scheduled_at = now
enter_pending(job)
add_error(id, job.retry_count, 'requeued by an operator (worker ' .. worker .. ')', now)
publish()
return 1
