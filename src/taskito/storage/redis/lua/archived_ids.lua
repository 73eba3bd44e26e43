-- list_archived_after. ARGV: archived job ids. Each archived job packed like a live job, or
-- false for one deleted meanwhile.

local packed = {}
for i = 3, #ARGV do packed[#packed + 1] = pack_hash(archived_key(ARGV[i])) end
return packed
