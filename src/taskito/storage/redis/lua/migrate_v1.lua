-- Opening a prefix written by schema version 1: one step of its migration to version 2.
-- ARGV: how many jobs a step looks at (the ZSCAN COUNT hint).
-- Version 1 kept neither ENDED_KEY (failed, dead and cancelled jobs by completed_at) nor
-- RESULT_EXPIRY_KEY (finished jobs with a result_ttl_ms, by completed_at + result_ttl_ms), so
-- archive_jobs and purge_expired_results would never see the jobs it finished. The migration
-- walks the bystatus sets of the finished statuses with ZSCAN (every job present for the whole
-- walk is seen at least once) and indexes each job as finish and index_ended would have.
-- The walk's position is stored in the meta hash by the same atomic step that did the work,
-- so processes opening the prefix at once share one walk, and a process that dies mid-way
-- leaves the rest to the next opener. Indexing is idempotent (ZADD NX of the same scores), so
-- a job seen twice changes nothing. The step that ends the walk writes schema_version 2, last.
-- Returns the recorded schema version after the step: '1' while the walk goes on.

local META_KEY = P .. ':meta'
local limit = ARGV[3]
local WALK = {COMPLETE, FAILED, DEAD, CANCELLED}
local FIELDS = {'status', 'completed_at', 'created_at', 'result_ttl_ms'}

local version = redis.call('HGET', META_KEY, 'schema_version')
if version ~= '1' then return version end

local function index_finished(id)
  local job = redis.call('HMGET', job_key(id), unpack(FIELDS))
  local status = job[1]
  if not (status and FINISHED[status]) then return end
  -- Every finish wrote completed_at; created_at only stands in for a hash edited by hand.
  local completed_at = job[2] or job[3] or '0'
  if status == COMPLETE then
    redis.call('ZADD', DONE_KEY, 'NX', completed_at, id)
  else
    redis.call('ZADD', ENDED_KEY, 'NX', completed_at, id)
  end
  if job[4] then
    local expires = int(tonumber(completed_at) + tonumber(job[4]))
    redis.call('ZADD', RESULT_EXPIRY_KEY, 'NX', expires, id)
  end
end

local step = tonumber(redis.call('HGET', META_KEY, 'migration_step') or '1')
local cursor = redis.call('HGET', META_KEY, 'migration_cursor') or '0'
local scanned = redis.call('ZSCAN', bystatus_key(WALK[step]), cursor, 'COUNT', limit)
local members = scanned[2]
for i = 1, #members, 2 do index_finished(members[i]) end

cursor = scanned[1]
if cursor == '0' then step = step + 1 end
if step <= #WALK then
  redis.call('HSET', META_KEY, 'migration_step', step, 'migration_cursor', cursor)
  return version
end
redis.call('HDEL', META_KEY, 'migration_step', 'migration_cursor')
redis.call('HSET', META_KEY, 'schema_version', '2')
return '2'
