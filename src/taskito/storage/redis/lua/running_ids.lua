-- running_ids. ARGV: task name ('' for any) and whether one is given ('1'/'0'), the same for
-- the queue. Ids of the running jobs that match, by started_at then id. Walks the running
-- jobs of the queue (or of every queue): as many as the workers run at once.

local task, by_task = ARGV[3], ARGV[4] == '1'
local queue, by_queue = ARGV[5], ARGV[6] == '1'

local index = bystatus_key(RUNNING)
if by_queue then index = status_key(RUNNING, queue) end

local found = {}
for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  local values = redis.call('HMGET', job_key(id), 'status', 'task_name', 'started_at')
  if values[1] == RUNNING and (not by_task or values[2] == task) then
    found[#found + 1] = {tonumber(values[3] or '0'), id}
  end
end
table.sort(found, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end)
local ids = {}
for i, entry in ipairs(found) do ids[i] = entry[2] end
return ids
