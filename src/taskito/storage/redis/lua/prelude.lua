-- The prelude of every taskito script: key names, status codes and the job transitions the
-- scripts share. ARGV[1] is the key prefix, ARGV[2] the token the change notice carries.
-- Numbers are kept as strings (Lua's tostring loses digits past 14); redis.call formats
-- number arguments exactly, and string.format('%d', n) does so for concatenation.

local P = ARGV[1]
local TOKEN = ARGV[2]

local PENDING, RUNNING, COMPLETE, FAILED, DEAD, CANCELLED = '0', '1', '2', '3', '4', '5'

local RUNNING_KEY = P .. ':running'
local CANCELS_KEY = P .. ':cancels'
local UNIQUE_KEY = P .. ':unique'
local CREATED_KEY = P .. ':created'
local DONE_KEY = P .. ':done'
local QUEUES_KEY = P .. ':queues'
local SEQ_KEY = P .. ':seq'
local DEAD_INDEX_KEY = P .. ':deadindex'
local LOGS_KEY = P .. ':logs'
local LOG_INDEX_KEY = P .. ':logindex'
local CHANGES_CHANNEL = P .. ':changes'
local ENDED_KEY = P .. ':ended'
local RESULT_EXPIRY_KEY = P .. ':resultexpiry'
local PAUSED_KEY = P .. ':paused'
local ARCHIVE_KEY = P .. ':archive'
local RATES_KEY = P .. ':rates'
local BREAKERS_KEY = P .. ':breakers'
local PERIODICS_KEY = P .. ':periodics'
local PERIODIC_DUE_KEY = P .. ':periodicdue'
local METRICS_KEY = P .. ':metrics'

local function job_key(id) return P .. ':job:' .. id end
local function status_key(code, queue) return P .. ':status:' .. code .. ':' .. queue end
local function bystatus_key(code) return P .. ':bystatus:' .. code end
local function nsqueues_key(nstag) return P .. ':nsqueues:' .. nstag end
local function levels_key(qk) return P .. ':levels:' .. qk end
local function ready_key(qk, pe) return P .. ':ready:' .. qk .. ':' .. pe end
local function expiry_key(qk) return P .. ':expiry:' .. qk end
local function task_pending_key(task) return P .. ':taskpending:' .. task end
local function deps_key(id) return P .. ':deps:' .. id end
local function dependents_key(id) return P .. ':dependents:' .. id end
local function errors_key(id) return P .. ':errors:' .. id end
local function job_logs_key(id) return P .. ':joblogs:' .. id end
local function dead_key(id) return P .. ':dead:' .. id end
local function archived_key(id) return P .. ':archived:' .. id end
local function replay_key(seq) return P .. ':replay:' .. seq end
local function replays_key(id) return P .. ':replays:' .. id end
local function breaker_key(task) return P .. ':breaker:' .. task end
local function periodic_key(name) return P .. ':periodic:' .. name end
local function lock_key(name) return P .. ':lock:' .. name end

local function int(n) return string.format('%d', n) end

local function publish() redis.call('PUBLISH', CHANGES_CHANNEL, TOKEN) end

-- The fields the transitions need; a missing field reads as false.
local INDEX_FIELDS = {
  'status', 'queue', 'task_name', 'created_at', 'scheduled_at', 'expires_at', 'qk', 'pe',
  'wait', 'unique_key', 'attempt', 'retry_count', 'max_retries', 'worker_id',
  'has_dependents', 'cancel_requested', 'result_ttl_ms', 'rescue_count',
}

local function load_job(id)
  local values = redis.call('HMGET', job_key(id), unpack(INDEX_FIELDS))
  if not values[1] then return nil end
  local job = {id = id}
  for i, name in ipairs(INDEX_FIELDS) do job[name] = values[i] end
  return job
end

-- A job record travels as one string (one reply element for the client to parse, not
-- fifty): the lengths of the JobRecord fields in dataclass order as 4-byte big-endian signed
-- integers (-1: absent), then the present values back to back. A loaded record is the array
-- of those fields followed by the claim keys it sits in (R_QK, R_PE).
local RECORD_FIELDS = {
  'id', 'queue', 'task_name', 'payload', 'status', 'priority', 'created_at', 'scheduled_at',
  'retry_count', 'max_retries', 'timeout_ms', 'started_at', 'completed_at', 'result', 'error',
  'unique_key', 'progress', 'metadata', 'cancel_requested', 'expires_at', 'result_ttl_ms',
  'namespace', 'worker_id', 'attempt', 'lease_expires_at', 'rescue_count', 'qk', 'pe',
}
local RECORD_LENGTH = 26
local R_QUEUE, R_TASK, R_STATUS, R_CREATED, R_CANCEL, R_EXPIRES = 2, 3, 5, 7, 19, 20
local R_STARTED, R_WORKER, R_ATTEMPT, R_LEASE, R_QK, R_PE = 12, 23, 24, 25, 27, 28
local LENGTHS_FORMAT = '>' .. string.rep('i4', RECORD_LENGTH)

local function load_record(id)
  local record = redis.call('HMGET', job_key(id), unpack(RECORD_FIELDS))
  if not record[1] then return nil end
  return record
end

-- Finished job statuses: the ones archive_jobs and purge_expired_results may remove.
local FINISHED = {[COMPLETE] = true, [FAILED] = true, [DEAD] = true, [CANCELLED] = true}

-- Arguments arrive packed the same way: ``count`` lengths, then the values (false: absent).
local UNPACK_FORMATS = {}

local function unpack_fields(blob, count)
  local format = UNPACK_FORMATS[count]
  if not format then
    format = '>' .. string.rep('i4', count)
    UNPACK_FORMATS[count] = format
  end
  local lengths = {struct.unpack(format, blob)}
  local position = lengths[count + 1]
  local values = {}
  for i = 1, count do
    local length = lengths[i]
    if length < 0 then
      values[i] = false
    else
      values[i] = string.sub(blob, position, position + length - 1)
      position = position + length
    end
  end
  return values
end

local function pack_record(record)
  local lengths, present = {}, {}
  for i = 1, RECORD_LENGTH do
    local value = record[i]
    if value then
      lengths[i] = #value
      present[#present + 1] = value
    else
      lengths[i] = -1
    end
  end
  return struct.pack(LENGTHS_FORMAT, unpack(lengths)) .. table.concat(present)
end

local function pack_job(id)
  local record = load_record(id)
  if not record then return false end
  return pack_record(record)
end

-- A record stored under any key (an archived job), packed; false when there is none.
local function pack_hash(key)
  local record = redis.call('HMGET', key, unpack(RECORD_FIELDS))
  if not record[1] then return false end
  return pack_record(record)
end

-- Index changes gathered over a batch of jobs and applied with one call per key: claim and
-- complete touch the same few keys for every job of a batch. Each key must see one command.
local function new_changes() return {} end

local function change(changes, command, key, first, second)
  local by_key = changes[command]
  if not by_key then
    by_key = {}
    changes[command] = by_key
  end
  local args = by_key[key]
  if not args then
    args = {}
    by_key[key] = args
  end
  args[#args + 1] = first
  if second then args[#args + 1] = second end
end

local function apply_changes(changes)
  for command, by_key in pairs(changes) do
    for key, args in pairs(by_key) do
      -- unpack() is bounded by the Lua stack: long lists go in slices (even, for ZADD pairs).
      for first = 1, #args, 4000 do
        redis.call(command, key, unpack(args, first, math.min(first + 3999, #args)))
      end
    end
  end
end

local function register_queue(queue, qk)
  redis.call('SADD', QUEUES_KEY, queue)
  redis.call('SADD', nsqueues_key(string.sub(qk, 1, #qk - #queue - 1)), queue)
end

local function move_status(job, from, to)
  redis.call('ZREM', status_key(from, job.queue), job.id)
  redis.call('ZREM', bystatus_key(from), job.id)
  redis.call('ZADD', status_key(to, job.queue), job.created_at, job.id)
  redis.call('ZADD', bystatus_key(to), job.created_at, job.id)
end

local function release_unique(job)
  if job.unique_key and redis.call('HGET', UNIQUE_KEY, job.unique_key) == job.id then
    redis.call('HDEL', UNIQUE_KEY, job.unique_key)
  end
end

-- A pending job is claimable (in its ready set) only once every dependency is complete.
local function make_ready(job)
  redis.call('ZADD', ready_key(job.qk, job.pe), job.scheduled_at, job.id)
  redis.call('ZADD', levels_key(job.qk), 0, job.pe)
end

local function enter_pending(job)
  redis.call('SADD', task_pending_key(job.task_name), job.id)
  if job.expires_at then redis.call('ZADD', expiry_key(job.qk), job.expires_at, job.id) end
  if not job.wait or tonumber(job.wait) <= 0 then make_ready(job) end
end

local function leave_pending(job)
  local ready = ready_key(job.qk, job.pe)
  if redis.call('ZREM', ready, job.id) == 1 and redis.call('EXISTS', ready) == 0 then
    redis.call('ZREM', levels_key(job.qk), job.pe)
  end
  if job.expires_at then redis.call('ZREM', expiry_key(job.qk), job.id) end
  redis.call('SREM', task_pending_key(job.task_name), job.id)
end

-- A job became failed, dead or cancelled at ``now`` (completions are indexed in DONE_KEY by
-- finish): index it for archive_jobs and, with a result_ttl_ms, for purge_expired_results.
local function index_ended(job, now)
  redis.call('ZADD', ENDED_KEY, now, job.id)
  if job.result_ttl_ms then
    redis.call('ZADD', RESULT_EXPIRY_KEY, tonumber(now) + tonumber(job.result_ttl_ms), job.id)
  end
end

local function leave_running(job)
  redis.call('ZREM', RUNNING_KEY, job.id)
  redis.call('HDEL', CANCELS_KEY, job.id)
  redis.call('HDEL', job_key(job.id), 'worker_id', 'lease_expires_at')
end

-- A pending job becomes cancelled with ``message`` as its error (nil: none). No cascade.
local function cancel_pending_job(job, now, message)
  local key = job_key(job.id)
  leave_pending(job)
  move_status(job, PENDING, CANCELLED)
  redis.call('HSET', key, 'status', CANCELLED, 'completed_at', now)
  if message then
    redis.call('HSET', key, 'error', message)
  else
    redis.call('HDEL', key, 'error')
  end
  release_unique(job)
  index_ended(job, now)
end

-- Cancel the pending dependents of root_id with ``reason``, and theirs in turn with
-- "dependency cancelled: <their cancelled dependency>".
local function cascade_cancel(root_id, reason, now)
  local frontier = {{root_id, reason}}
  while #frontier > 0 do
    local item = table.remove(frontier)
    for _, child_id in ipairs(redis.call('LRANGE', dependents_key(item[1]), 0, -1)) do
      local child = load_job(child_id)
      if child and child.status == PENDING then
        cancel_pending_job(child, now, item[2])
        frontier[#frontier + 1] = {child_id, 'dependency cancelled: ' .. child_id}
      end
    end
  end
end

-- A dependency completed: dependents whose last dependency it was become claimable.
local function release_dependents(parent_id)
  for _, child_id in ipairs(redis.call('LRANGE', dependents_key(parent_id), 0, -1)) do
    local child = load_job(child_id)
    if child and child.status == PENDING and child.wait and tonumber(child.wait) > 0 then
      if redis.call('HINCRBY', job_key(child_id), 'wait', -1) == 0 then make_ready(child) end
    end
  end
end

local function add_error(id, attempt, message, now)
  local seq = redis.call('HINCRBY', SEQ_KEY, 'errors', 1)
  redis.call('RPUSH', errors_key(id), int(seq) .. '|' .. attempt .. '|' .. now .. '|' .. message)
end

local DEAD_LETTER_FIELDS = {
  'queue', 'task_name', 'payload', 'error', 'retry_count', 'metadata', 'priority',
  'max_retries', 'timeout_ms', 'result_ttl_ms', 'namespace', 'qk', 'pe', 'dlq_retry_count',
}

local function add_dead_letter(job_id, dead_id, now)
  local values = redis.call('HMGET', job_key(job_id), unpack(DEAD_LETTER_FIELDS))
  -- Newest first is failed_at, then insertion order: the member starts with a sequence.
  local member = string.format('%016d', redis.call('HINCRBY', SEQ_KEY, 'dead', 1)) .. dead_id
  local fields = {'id', dead_id, 'original_job_id', job_id, 'failed_at', now, 'member', member}
  for i, name in ipairs(DEAD_LETTER_FIELDS) do
    if values[i] then
      fields[#fields + 1] = name
      fields[#fields + 1] = values[i]
    end
  end
  redis.call('HSET', dead_key(dead_id), unpack(fields))
  redis.call('ZADD', DEAD_INDEX_KEY, now, member)
end

-- A running job goes back to pending, counted in ``counter`` ('retry_count' for a retry,
-- 'rescue_count' for a rescue); returns the new count.
local function requeue_running(job, scheduled_at, counter)
  local key = job_key(job.id)
  leave_running(job)
  local retries = redis.call('HINCRBY', key, counter, 1)
  redis.call('HSET', key, 'status', PENDING, 'scheduled_at', scheduled_at)
  redis.call('HDEL', key, 'started_at', 'completed_at', 'error')
  move_status(job, RUNNING, PENDING)
  job.scheduled_at = scheduled_at
  enter_pending(job)
  return retries
end

-- A running job ends in a terminal status with its side effects (error row, dead letter,
-- cascade); ``message`` nil clears the error.
local function end_running(job, code, message, now, dead_id)
  local key = job_key(job.id)
  leave_running(job)
  redis.call('HSET', key, 'status', code, 'completed_at', now)
  if message then
    redis.call('HSET', key, 'error', message)
  else
    redis.call('HDEL', key, 'error')
  end
  move_status(job, RUNNING, code)
  release_unique(job)
  index_ended(job, now)
  if code == DEAD then
    add_error(job.id, job.retry_count, message or '', now)
    add_dead_letter(job.id, dead_id, now)
    cascade_cancel(job.id, 'dependency failed: ' .. job.id, now)
  elseif code == CANCELLED then
    cascade_cancel(job.id, 'dependency cancelled: ' .. job.id, now)
  end
end

-- A finished job leaves the job indexes and loses its side rows as purge_completed has always
-- treated them: error rows and logs deleted, dependency edges removed in both directions (a
-- pending dependent of a complete job had its wait count lowered already, so it still runs).
-- The job hash itself is left to the caller (deleted, or renamed into the archive).
local function drop_finished(job)
  local id = job.id
  for _, seq in ipairs(redis.call('LRANGE', job_logs_key(id), 0, -1)) do
    redis.call('HDEL', LOGS_KEY, seq)
    redis.call('ZREM', LOG_INDEX_KEY, seq)
  end
  for _, parent in ipairs(redis.call('LRANGE', deps_key(id), 0, -1)) do
    redis.call('LREM', dependents_key(parent), 0, id)
  end
  for _, child in ipairs(redis.call('LRANGE', dependents_key(id), 0, -1)) do
    redis.call('LREM', deps_key(child), 0, id)
  end
  redis.call('DEL', errors_key(id), job_logs_key(id), deps_key(id), dependents_key(id))
  redis.call('ZREM', CREATED_KEY, id)
  redis.call('ZREM', status_key(job.status, job.queue), id)
  redis.call('ZREM', bystatus_key(job.status), id)
  redis.call('ZREM', DONE_KEY, id)
  redis.call('ZREM', ENDED_KEY, id)
  redis.call('ZREM', RESULT_EXPIRY_KEY, id)
end

-- Storage.release_jobs: a running job goes back to pending as a rescue (retries kept, an
-- error row with ``reason``), or to dead as a poison pill once rescued ``max_rescues`` times
-- (the text of base.poison_pill_error). Returns true and the error when it used ``dead_id``
-- (the caller settles the job's workflow node: lib_workflow).
local function rescue_running(job, max_rescues, reason, now, dead_id)
  local rescues = tonumber(job.rescue_count or '0')
  if rescues >= max_rescues then
    local message = 'poison pill: rescued ' .. int(rescues) ..
      ' times (its worker kept dying while running it)'
    end_running(job, DEAD, message, now, dead_id)
    return true, message
  end
  -- The cancel request stays: the next attempt honours it at once.
  requeue_running(job, now, 'rescue_count')
  add_error(job.id, job.retry_count, reason, now)
  return false
end
