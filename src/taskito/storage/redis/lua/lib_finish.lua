-- The fenced finish, shared by finish and finish_claim: finish_outcomes(now, count, first)
-- applies the ``count`` packed outcomes at ARGV[first], ARGV[first + 1], ... (see
-- unpack_fields): job_id, attempt, status code, value (the result for complete, else the
-- error; absent for none), retry_at (absent: now), dead letter id, worker id, metric (its
-- member of the metrics set; absent: none), result digest (of a complete one). Each outcome
-- applies only while the job is running under that attempt for that worker (fenced); an
-- outcome that applies adds its metric, scored by now, and a terminal one settles the job's
-- workflow node, if it has one (lib_workflow: one HGET for a job without). Returns one 1/0
-- per outcome, and whether any applied (the caller publishes then).

local function finish_outcomes(now, count, first)
  -- The fence, and all a completion needs (the common outcome): one short read. Other
  -- outcomes load the whole job.
  local FINISH_FIELDS = {
    'status', 'attempt', 'queue', 'created_at', 'unique_key', 'has_dependents', 'result_ttl_ms',
    'worker_id',
  }

  local applied = {}
  -- Completions (the common outcome) batch their index changes; the rest apply at once.
  local changes = new_changes()
  local any = false
  for n = 1, count do
    local outcome = unpack_fields(ARGV[first + n - 1], 9)
    local id, attempt, code, value = outcome[1], outcome[2], outcome[3], outcome[4]
    local has_value = value ~= false
    local key = job_key(id)
    local head = redis.call('HMGET', key, unpack(FINISH_FIELDS))
    if head[1] ~= RUNNING or head[2] ~= attempt or head[8] ~= outcome[7] then
      applied[#applied + 1] = 0
    else
      if code == COMPLETE then
        local job = {id = id, queue = head[3], created_at = head[4], unique_key = head[5],
          has_dependents = head[6]}
        if has_value then
          redis.call('HSET', key, 'status', COMPLETE, 'completed_at', now, 'result', value)
        else
          redis.call('HSET', key, 'status', COMPLETE, 'completed_at', now)
        end
        redis.call('HDEL', key, 'worker_id', 'lease_expires_at')
        change(changes, 'ZREM', RUNNING_KEY, id)
        change(changes, 'HDEL', CANCELS_KEY, id)
        change(changes, 'ZREM', status_key(RUNNING, job.queue), id)
        change(changes, 'ZADD', status_key(COMPLETE, job.queue), job.created_at, id)
        change(changes, 'ZREM', bystatus_key(RUNNING), id)
        change(changes, 'ZADD', bystatus_key(COMPLETE), job.created_at, id)
        change(changes, 'ZADD', DONE_KEY, now, id)
        if head[7] then
          change(changes, 'ZADD', RESULT_EXPIRY_KEY, int(tonumber(now) + tonumber(head[7])), id)
        end
        release_unique(job)
        if job.has_dependents then release_dependents(id) end
        wf.settle_job(id, COMPLETE, nil, outcome[9], now)
      elseif code == PENDING then
        local job = load_job(id)
        local retry_at = outcome[5] or now
        redis.call('HSET', key, 'cancel_requested', 0)
        job.cancel_requested = '0'
        local retries = requeue_running(job, retry_at, 'retry_count')
        add_error(id, int(retries - 1), has_value and value or '', now)
      else
        local job = load_job(id)
        local message = nil
        if has_value then message = value end
        if code == CANCELLED and not message then message = 'cancelled by request' end
        end_running(job, code, message, now, outcome[6])
        wf.settle_job(id, code, has_value and value or nil, nil, now)
      end
      if outcome[8] then redis.call('ZADD', METRICS_KEY, now, outcome[8]) end
      applied[#applied + 1] = 1
      any = true
    end
  end

  apply_changes(changes)
  return applied, any
end
