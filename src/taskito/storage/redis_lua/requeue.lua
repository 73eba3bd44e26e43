-- requeue_expired. ARGV: cutoff (server clock), now, limit, then spare dead letter ids.
-- Running jobs whose lease ended before the cutoff go back to pending with an error row, or
-- to dead when their retries are spent. Returns each job, packed, as it was before.

local cutoff, now, limit = ARGV[3], ARGV[4], tonumber(ARGV[5])
local next_dead_id = 6

local before = {}
for _, id in ipairs(redis.call('ZRANGE', RUNNING_KEY, '-inf', '(' .. cutoff, 'BYSCORE',
    'LIMIT', 0, limit)) do
  local job = load_job(id)
  if not job or job.status ~= RUNNING then
    redis.call('ZREM', RUNNING_KEY, id)
  else
    before[#before + 1] = pack_job(id)
    local message = 'lease expired: worker ' .. (job.worker_id or '') .. ' stopped'
    if tonumber(job.retry_count) >= tonumber(job.max_retries) then
      end_running(job, DEAD, message, now, ARGV[next_dead_id])
      next_dead_id = next_dead_id + 1
    else
      -- The cancel request stays: the next attempt honours it at once.
      requeue_running(job, now)
      add_error(id, job.retry_count, message, now)
    end
  end
end

if #before > 0 then publish() end
return before
