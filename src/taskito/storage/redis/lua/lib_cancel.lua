-- The two halves of cancellation, shared by cancel_pending, request_cancel and cancel (the
-- script behind Storage.cancel, which picks one of them from the job's status).

-- A pending job becomes cancelled without an error and its pending dependents cascade.
-- Returns true, or false when the job is not pending.
local function cancel_pending_id(id, now)
  local job = load_job(id)
  if not job or job.status ~= PENDING then return false end
  cancel_pending_job(job, now, nil)
  cascade_cancel(id, 'dependency cancelled: ' .. id, now)
  publish()
  return true
end

-- Flags a running job at level (1 cooperative, 2 forced); a request never downgrades.
-- Returns true, or false when the job is not running.
local function request_cancel_id(id, level)
  local key = job_key(id)
  local values = redis.call('HMGET', key, 'status', 'cancel_requested')
  if values[1] ~= RUNNING then return false end
  local current = tonumber(values[2] or '0') or 0
  if level > current then current = level end
  redis.call('HSET', key, 'cancel_requested', current)
  redis.call('HSET', CANCELS_KEY, id, current)
  publish()
  return true
end
