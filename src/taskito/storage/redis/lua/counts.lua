-- count_jobs / count_jobs_by_queue. ARGV: 'all', or 'queue' and a queue name, or
-- 'by_queue'. Returns six counts in status-code order; for 'by_queue', the queue name
-- followed by its six counts, for every queue that has jobs.

local function counts_of(queue)
  local counts = {}
  for code = 0, 5 do
    if queue then
      counts[#counts + 1] = redis.call('ZCARD', status_key(int(code), queue))
    else
      counts[#counts + 1] = redis.call('ZCARD', bystatus_key(int(code)))
    end
  end
  return counts
end

if ARGV[3] == 'all' then return counts_of(nil) end
if ARGV[3] == 'queue' then return counts_of(ARGV[4]) end
local result = {}
for _, queue in ipairs(redis.call('SMEMBERS', QUEUES_KEY)) do
  local counts = counts_of(queue)
  local total = 0
  for _, count in ipairs(counts) do total = total + count end
  if total > 0 then
    result[#result + 1] = queue
    for _, count in ipairs(counts) do result[#result + 1] = count end
  end
end
return result
