-- The claim, shared by claim and finish_claim: claim_jobs(worker_id, now, lease, limit,
-- nstag, queues) where queues is nil (every queue of the namespace) or a list of names.
-- Paused queues are skipped whole (their jobs stay pending, untouched). Per other queue:
-- cancel expired pending jobs, then walk the priority levels (highest first), each a sorted
-- set by scheduled_at, taking due jobs until the limit; merge the queues' picks by
-- (priority, scheduled_at, id) and move the best ``limit`` to running.
-- Returns {expired_any, packed job, packed job, ...}; the caller publishes when expired_any.

local function claim_jobs(worker_id, now, lease, limit, nstag, queues)
  if queues == nil then queues = redis.call('SMEMBERS', nsqueues_key(nstag)) end
  -- Usually empty: one cheap read per claim.
  local paused = redis.call('SMEMBERS', PAUSED_KEY)
  if #paused > 0 then
    local is_paused = {}
    for _, queue in ipairs(paused) do is_paused[queue] = true end
    local open = {}
    for _, queue in ipairs(queues) do
      if not is_paused[queue] then open[#open + 1] = queue end
    end
    queues = open
  end

  local expired_any = 0
  local candidates = {}
  local candidates_qk = {}
  for _, queue in ipairs(queues) do
    local qk = nstag .. ':' .. queue
    local expiry = expiry_key(qk)
    for _, id in ipairs(redis.call('ZRANGE', expiry, '-inf', '(' .. now, 'BYSCORE')) do
      local job = load_job(id)
      if job and job.status == PENDING then
        cancel_pending_job(job, now, 'expired before execution')
        cascade_cancel(id, 'dependency cancelled: ' .. id, now)
        expired_any = 1
      else
        redis.call('ZREM', expiry, id)
      end
    end
    local found = 0
    for _, pe in ipairs(redis.call('ZRANGE', levels_key(qk), 0, -1)) do
      local due = redis.call('ZRANGE', ready_key(qk, pe), '-inf', now, 'BYSCORE',
        'LIMIT', 0, limit - found, 'WITHSCORES')
      for i = 1, #due, 2 do
        candidates[#candidates + 1] = {pe, tonumber(due[i + 1]), due[i]}
        candidates_qk[due[i]] = qk
      end
      found = found + #due / 2
      if found >= limit then break end
    end
  end

  table.sort(candidates, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[3] < b[3]
  end)

  local changes = new_changes()
  local emptied = {}

  -- Move one picked job to running; returns it packed (nil for a stale ready entry).
  local function take(pe, id)
    local job = load_record(id)
    if not job or job[R_STATUS] ~= PENDING then
      redis.call('ZREM', ready_key(candidates_qk[id], pe), id)
      return nil
    end
    local qk, queue, created = job[R_QK], job[R_QUEUE], job[R_CREATED]
    local ready = ready_key(qk, pe)
    emptied[ready] = qk
    change(changes, 'ZREM', ready, id)
    if job[R_EXPIRES] then change(changes, 'ZREM', expiry_key(qk), id) end
    change(changes, 'SREM', task_pending_key(job[R_TASK]), id)
    change(changes, 'ZREM', status_key(PENDING, queue), id)
    change(changes, 'ZADD', status_key(RUNNING, queue), created, id)
    change(changes, 'ZREM', bystatus_key(PENDING), id)
    change(changes, 'ZADD', bystatus_key(RUNNING), created, id)
    change(changes, 'ZADD', RUNNING_KEY, lease, id)
    -- A request made before an expired lease was requeued applies to the next attempt at once.
    local cancel = job[R_CANCEL]
    if cancel and cancel ~= '0' then change(changes, 'HSET', CANCELS_KEY, id, cancel) end
    if job[R_DEBOUNCE] and job[R_ATTEMPT] == '0' then release_debounce(job[R_DEBOUNCE], id) end
    local attempt = int(tonumber(job[R_ATTEMPT]) + 1)
    job[R_STATUS], job[R_ATTEMPT], job[R_WORKER] = RUNNING, attempt, worker_id
    job[R_STARTED], job[R_LEASE] = now, lease
    redis.call('HSET', job_key(id), 'status', RUNNING, 'attempt', attempt,
      'worker_id', worker_id, 'started_at', now, 'lease_expires_at', lease)
    return pack_record(job)
  end

  local result = {expired_any}
  for i = 1, math.min(limit, #candidates) do
    local packed = take(candidates[i][1], candidates[i][3])
    if packed then result[#result + 1] = packed end
  end
  apply_changes(changes)
  for ready, qk in pairs(emptied) do
    if redis.call('EXISTS', ready) == 0 then
      redis.call('ZREM', levels_key(qk), string.sub(ready, -16))
    end
  end

  return result
end
