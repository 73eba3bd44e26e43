-- Enqueueing, shared by the scripts that insert jobs (enqueue, fire_periodic, enqueue_replay;
-- included after the prelude). A new job arrives as one packed argument (see unpack_fields):
-- the NEW_JOB_FIELDS, the dependency count and the packed dependency ids.

local NEW_JOB_FIELDS = {
  'id', 'queue', 'task_name', 'payload', 'priority', 'created_at', 'scheduled_at',
  'max_retries', 'timeout_ms', 'unique_key', 'metadata', 'expires_at', 'result_ttl_ms',
  'namespace', 'qk', 'pe',
}
local NEW_JOB_FIELD_COUNT = #NEW_JOB_FIELDS

local function parse_new_job(packed)
  local values = unpack_fields(packed, NEW_JOB_FIELD_COUNT + 2)
  local job = {values = values}
  for i, name in ipairs(NEW_JOB_FIELDS) do job[name] = values[i] end
  local dependency_count = tonumber(values[NEW_JOB_FIELD_COUNT + 1])
  job.deps = {}
  if dependency_count > 0 then
    job.deps = unpack_fields(values[NEW_JOB_FIELD_COUNT + 2], dependency_count)
  end
  return job
end

local function active_holder(unique_key)
  local holder = redis.call('HGET', UNIQUE_KEY, unique_key)
  if not holder then return nil end
  local status = redis.call('HGET', job_key(holder), 'status')
  if status == PENDING or status == RUNNING then return holder end
  return nil
end

-- Everything is checked before anything is written: all or nothing. ``mode`` 'one': a held
-- unique key of the (single) job returns its holder; 'many': it is an error. Returns
-- holder, error message (both nil: insert). Sets each job's ``wait`` (unmet dependencies).
local function check_new_jobs(jobs, mode)
  if mode == 'one' and jobs[1].unique_key then
    local holder = active_holder(jobs[1].unique_key)
    if holder then return holder, nil end
  end
  local in_batch = {}
  for _, job in ipairs(jobs) do
    if redis.call('EXISTS', job_key(job.id)) == 1 then
      return nil, 'TASKITO_DUPLICATE a job with id ' .. job.id .. ' already exists'
    end
    if mode == 'many' and job.unique_key then
      local holder = active_holder(job.unique_key)
      if holder then
        return nil, 'TASKITO_UNIQUE UNIQUE constraint failed: unique_key ' .. job.unique_key
          .. ' is held by active job ' .. holder
      end
    end
    local unmet = 0
    for _, parent in ipairs(job.deps) do
      if in_batch[parent] then
        unmet = unmet + 1
      else
        local status = redis.call('HGET', job_key(parent), 'status')
        if not status or status == DEAD or status == CANCELLED then
          return nil, 'TASKITO_DEPENDENCY dependency not found or already dead/cancelled: '
            .. parent
        end
        if status ~= COMPLETE then unmet = unmet + 1 end
      end
    end
    job.wait = int(unmet)
    in_batch[job.id] = true
  end
  return nil, nil
end

-- Write checked jobs: hash, indexes, dependency edges, claimability. Publishes nothing.
local function insert_new_jobs(jobs)
  for _, job in ipairs(jobs) do
    local key = job_key(job.id)
    local fields = {'status', PENDING, 'retry_count', 0, 'attempt', 0, 'cancel_requested', 0,
      'wait', job.wait}
    for i, name in ipairs(NEW_JOB_FIELDS) do
      local value = job.values[i]
      if value then
        fields[#fields + 1] = name
        fields[#fields + 1] = value
      end
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('ZADD', CREATED_KEY, job.created_at, job.id)
    redis.call('ZADD', status_key(PENDING, job.queue), job.created_at, job.id)
    redis.call('ZADD', bystatus_key(PENDING), job.created_at, job.id)
    register_queue(job.queue, job.qk)
    if job.unique_key then redis.call('HSET', UNIQUE_KEY, job.unique_key, job.id) end
    for _, parent in ipairs(job.deps) do
      redis.call('RPUSH', deps_key(job.id), parent)
      redis.call('RPUSH', dependents_key(parent), job.id)
      redis.call('HSET', job_key(parent), 'has_dependents', 1)
    end
    enter_pending(job)
  end
end
