-- release_jobs (after lib_workflow). ARGV: worker_id, now, max_rescues, reason, keep count,
-- kept ids, then spare dead letter ids. Every job running under worker_id and not kept is
-- rescued (rescue_running; a poison pill settles its workflow node). Returns {1, packed jobs
-- as they were before...}, or {0, n} without writing anything when the poison pills among
-- them need n spare dead letter ids.

local worker_id, now, max_rescues, reason = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local keep_count = tonumber(ARGV[7])
local kept = {}
for i = 8, 7 + keep_count do kept[ARGV[i]] = true end
local first_dead_id = 8 + keep_count

-- No index by worker: the running set holds every worker's jobs, a few per slot.
local mine, poison = {}, 0
for _, id in ipairs(redis.call('ZRANGE', RUNNING_KEY, 0, -1)) do
  if not kept[id] then
    local job = load_job(id)
    if job and job.status == RUNNING and job.worker_id == worker_id then
      mine[#mine + 1] = job
      if tonumber(job.rescue_count or '0') >= max_rescues then poison = poison + 1 end
    end
  end
end
if poison > #ARGV - first_dead_id + 1 then return {0, poison} end

local reply = {1}
local next_dead_id = first_dead_id
for _, job in ipairs(mine) do
  reply[#reply + 1] = pack_job(job.id)
  local poisoned, message = rescue_running(job, max_rescues, reason, now, ARGV[next_dead_id])
  if poisoned then
    next_dead_id = next_dead_id + 1
    wf.settle_job(job.id, DEAD, message, nil, now)
  end
end
if #mine > 0 then publish() end
return reply
