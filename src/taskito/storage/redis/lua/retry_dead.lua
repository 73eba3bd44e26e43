-- retry_dead. ARGV: dead letter id, new job id, now, bump[, payload]. Enqueues a fresh pending
-- copy of the dead letter (with the given payload in place of the letter's) and deletes it;
-- the copy carries the letter's dlq_retry_count plus ``bump`` (1 for an automatic retry).
-- Returns the new job, packed, or false when there is no such dead letter.

local dead_id, id, now, bump, payload = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7]
local letter_key = dead_key(dead_id)
if redis.call('EXISTS', letter_key) == 0 then return false end
if redis.call('EXISTS', job_key(id)) == 1 then
  return redis.error_reply('TASKITO_DUPLICATE a job with id ' .. id .. ' already exists')
end

local COPIED = {
  'queue', 'task_name', 'payload', 'priority', 'max_retries', 'timeout_ms', 'metadata',
  'result_ttl_ms', 'namespace', 'qk', 'pe',
}
local values = redis.call('HMGET', letter_key, 'member', unpack(COPIED))
local fields = {
  'id', id, 'created_at', now, 'scheduled_at', now, 'status', PENDING, 'retry_count', 0,
  'attempt', 0, 'cancel_requested', 0, 'wait', 0,
}
for i, name in ipairs(COPIED) do
  if values[i + 1] then
    fields[#fields + 1] = name
    fields[#fields + 1] = values[i + 1]
  end
end
local key = job_key(id)
redis.call('HSET', key, unpack(fields))
if payload then redis.call('HSET', key, 'payload', payload) end
local carried = tonumber(redis.call('HGET', letter_key, 'dlq_retry_count') or '0') + bump
if carried > 0 then redis.call('HSET', key, 'dlq_retry_count', carried) end

local job = load_job(id)
redis.call('ZADD', CREATED_KEY, now, id)
redis.call('ZADD', status_key(PENDING, job.queue), now, id)
redis.call('ZADD', bystatus_key(PENDING), now, id)
register_queue(job.queue, job.qk)
enter_pending(job)

redis.call('DEL', letter_key)
redis.call('ZREM', DEAD_INDEX_KEY, values[1])
publish()
return pack_job(id)
