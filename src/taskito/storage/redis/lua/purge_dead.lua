-- purge_dead, one chunk. ARGV: before, limit. Deletes up to ``limit`` dead letters that
-- failed before ``before``. Returns how many it deleted.

local before, limit = ARGV[3], tonumber(ARGV[4])
local members = redis.call('ZRANGE', DEAD_INDEX_KEY, '-inf', '(' .. before, 'BYSCORE',
  'LIMIT', 0, limit)
for _, member in ipairs(members) do
  redis.call('DEL', dead_key(string.sub(member, 17)))
  redis.call('ZREM', DEAD_INDEX_KEY, member)
end
return #members
