-- list_archived. ARGV: limit, offset. The page of archived jobs, most recently finished
-- first (completed_at, then id, descending), each packed like a live job.

local limit, offset = tonumber(ARGV[3]), tonumber(ARGV[4])
local page = {}
for _, id in ipairs(redis.call('ZRANGE', ARCHIVE_KEY, '+inf', '-inf', 'BYSCORE', 'REV',
    'LIMIT', offset, limit)) do
  local packed = pack_hash(archived_key(id))
  if packed then page[#page + 1] = packed end
end
return page
