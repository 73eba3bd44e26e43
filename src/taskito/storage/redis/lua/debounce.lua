-- enqueue_debounced (after lib_enqueue). ARGV[3]: the debounce field (keys.debounce_field),
-- ARGV[4]: window ms, ARGV[5]: max wait ms, ARGV[6]: '1' to replace the payload, ARGV[7]: now,
-- ARGV[8]: a max_pending cap or '', ARGV[9]: the packed job. While the job holding the field
-- is pending and never claimed, slide it: {'slid', packed job}. Otherwise insert the job
-- holding the field: {'new'}. Run again after a lost reply, it slides the job it inserted
-- to the same time, so the caller may repeat it.

local field, window, max_wait = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local replace, now, cap = ARGV[6] == '1', tonumber(ARGV[7]), tonumber(ARGV[8])
local job = parse_new_job(ARGV[9])

local holder = redis.call('HGET', DEBOUNCE_KEY, field)
if holder then
  local key = job_key(holder)
  local held = redis.call('HMGET', key, 'status', 'attempt', 'created_at', 'qk', 'pe')
  if held[1] == PENDING and held[2] == '0' then
    local at = int(math.min(now + window, tonumber(held[3]) + max_wait))
    redis.call('HSET', key, 'scheduled_at', at)
    if replace then redis.call('HSET', key, 'payload', job.payload) end
    -- In its ready set only once its dependencies are complete: XX leaves it out until then.
    redis.call('ZADD', ready_key(held[4], held[5]), 'XX', at, holder)
    publish()
    return {'slid', pack_job(holder)}
  end
end

if cap then
  local pending = redis.call('ZCARD', status_key(PENDING, job.queue))
  if pending + 1 > cap then
    return redis.error_reply('TASKITO_QUEUE_FULL ' .. pending .. ' 1 ' .. cap)
  end
end
local _, problem = check_new_jobs({job}, 'many')
if problem then return redis.error_reply(problem) end
insert_new_jobs({job})
redis.call('HSET', job_key(job.id), 'debounce', field)
redis.call('HSET', DEBOUNCE_KEY, field, job.id)
publish()
return {'new'}
