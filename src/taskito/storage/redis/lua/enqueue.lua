-- enqueue / enqueue_many (after lib_enqueue). ARGV[3]: 'one' (a held unique key returns the
-- holder), 'many' (a held unique key is an error) or 'coalesce' (each job on its own key);
-- ARGV[4]: the job count; then one packed job per argument. 'one' and 'many': all or nothing,
-- returning {'new'} or {'existing', packed holder}. 'coalesce' (jobs without dependencies):
-- per job, 'new', 'self' (its id is stored already: a lost attempt of this very call stored
-- it) or 'existing' then the packed holder of its key, an earlier job of the batch included.

local mode = ARGV[3]
local count = tonumber(ARGV[4])

-- '<mode>@<cap>': jobs of one queue under a max_pending cap, counted first.
local cap = nil
local at = string.find(mode, '@', 1, true)
if at then
  cap = tonumber(string.sub(mode, at + 1))
  mode = string.sub(mode, 1, at - 1)
end

local jobs = {}
for n = 1, count do jobs[n] = parse_new_job(ARGV[4 + n]) end

if cap and count > 0 then
  local pending = redis.call('ZCARD', status_key(PENDING, jobs[1].queue))
  if pending + count > cap then
    return redis.error_reply('TASKITO_QUEUE_FULL ' .. pending .. ' ' .. count .. ' ' .. cap)
  end
end

if mode == 'coalesce' then
  local reply = {}
  local inserted = false
  for _, job in ipairs(jobs) do
    local holder = nil
    if redis.call('EXISTS', job_key(job.id)) == 1 then
      reply[#reply + 1] = 'self'
    else
      if job.unique_key then holder = active_holder(job.unique_key) end
      if holder then
        reply[#reply + 1] = 'existing'
        reply[#reply + 1] = pack_job(holder)
      else
        job.wait = int(0)
        insert_new_jobs({job})
        inserted = true
        reply[#reply + 1] = 'new'
      end
    end
  end
  if inserted then publish() end
  return reply
end

local holder, problem = check_new_jobs(jobs, mode)
if problem then return redis.error_reply(problem) end
if holder then return {'existing', pack_job(holder)} end

insert_new_jobs(jobs)
publish()
return {'new'}
