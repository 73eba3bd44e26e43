-- delete_dead. ARGV: '1' when a namespace follows ('0': none), namespace, task name ('': any
-- task), then dead letter ids. Deletes each letter of that namespace (and task). Returns how
-- many it deleted.

local has_ns, ns, task = ARGV[3], ARGV[4], ARGV[5]
local deleted = 0
for i = 6, #ARGV do
  local key = dead_key(ARGV[i])
  local member, stored, stored_task = unpack(redis.call('HMGET', key, 'member', 'namespace',
    'task_name'))
  local mine = member and ((has_ns == '1' and stored == ns) or (has_ns ~= '1' and not stored))
  if mine and (task == '' or stored_task == task) then
    redis.call('DEL', key)
    redis.call('ZREM', DEAD_INDEX_KEY, member)
    deleted = deleted + 1
  end
end
return deleted
