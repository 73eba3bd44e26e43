-- enqueue / enqueue_many. ARGV[3]: 'one' (a held unique key returns the holder) or 'many'
-- (a held unique key is an error); ARGV[4]: the job count; then one packed job per argument
-- (see unpack_fields): the NEW_JOB_FIELDS, the dependency count and the packed dependency ids.
-- Everything is checked before anything is written: all or nothing.

local NEW_JOB_FIELDS = {
  'id', 'queue', 'task_name', 'payload', 'priority', 'created_at', 'scheduled_at',
  'max_retries', 'timeout_ms', 'unique_key', 'metadata', 'expires_at', 'result_ttl_ms',
  'namespace', 'qk', 'pe',
}
local FIELD_COUNT = #NEW_JOB_FIELDS

local mode = ARGV[3]
local count = tonumber(ARGV[4])

local jobs = {}
for n = 1, count do
  local values = unpack_fields(ARGV[4 + n], FIELD_COUNT + 2)
  local job = {values = values}
  for i, name in ipairs(NEW_JOB_FIELDS) do job[name] = values[i] end
  local dependency_count = tonumber(values[FIELD_COUNT + 1])
  job.deps = {}
  if dependency_count > 0 then
    job.deps = unpack_fields(values[FIELD_COUNT + 2], dependency_count)
  end
  jobs[n] = job
end

local function active_holder(unique_key)
  local holder = redis.call('HGET', UNIQUE_KEY, unique_key)
  if not holder then return nil end
  local status = redis.call('HGET', job_key(holder), 'status')
  if status == PENDING or status == RUNNING then return holder end
  return nil
end

if mode == 'one' and jobs[1].unique_key then
  local holder = active_holder(jobs[1].unique_key)
  if holder then return {'existing', pack_job(holder)} end
end

local in_batch = {}
for _, job in ipairs(jobs) do
  if redis.call('EXISTS', job_key(job.id)) == 1 then
    return redis.error_reply('TASKITO_DUPLICATE a job with id ' .. job.id .. ' already exists')
  end
  if mode == 'many' and job.unique_key then
    local holder = active_holder(job.unique_key)
    if holder then
      return redis.error_reply('TASKITO_UNIQUE UNIQUE constraint failed: unique_key '
        .. job.unique_key .. ' is held by active job ' .. holder)
    end
  end
  local unmet = 0
  for _, parent in ipairs(job.deps) do
    if in_batch[parent] then
      unmet = unmet + 1
    else
      local status = redis.call('HGET', job_key(parent), 'status')
      if not status or status == DEAD or status == CANCELLED then
        return redis.error_reply(
          'TASKITO_DEPENDENCY dependency not found or already dead/cancelled: ' .. parent)
      end
      if status ~= COMPLETE then unmet = unmet + 1 end
    end
  end
  job.wait = int(unmet)
  in_batch[job.id] = true
end

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

publish()
return {'new'}
