-- requeue_expired (after lib_workflow). ARGV: cutoff (server clock), now, limit, max_rescues,
-- then spare dead letter ids. Running jobs whose lease ended before the cutoff are rescued
-- (rescue_running; a poison pill settles its workflow node). Returns each job, packed, as it
-- was before.

local cutoff, now, limit, max_rescues = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local next_dead_id = 7

local before = {}
for _, id in ipairs(redis.call('ZRANGE', RUNNING_KEY, '-inf', '(' .. cutoff, 'BYSCORE',
    'LIMIT', 0, limit)) do
  local job = load_job(id)
  if not job or job.status ~= RUNNING then
    redis.call('ZREM', RUNNING_KEY, id)
  else
    before[#before + 1] = pack_job(id)
    local reason = 'rescued: worker ' .. (job.worker_id or '') .. ' stopped renewing its lease'
    local poisoned, message = rescue_running(job, max_rescues, reason, now, ARGV[next_dead_id])
    if poisoned then
      next_dead_id = next_dead_id + 1
      wf.settle_job(job.id, DEAD, message, nil, now)
    end
  end
end

if #before > 0 then publish() end
return before
