-- dead_letters. ARGV: limit, offset. The page of dead letters, newest first, each as its
-- fields.

local limit, offset = tonumber(ARGV[3]), tonumber(ARGV[4])
local page = {}
local members = redis.call('ZRANGE', DEAD_INDEX_KEY, '+inf', '-inf', 'BYSCORE', 'REV',
  'LIMIT', offset, limit)
for _, member in ipairs(members) do
  page[#page + 1] = redis.call('HGETALL', dead_key(string.sub(member, 17)))
end
return page
