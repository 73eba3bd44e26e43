-- get_job / list_jobs. ARGV: job ids. Returns each job packed, or false for a missing one.

local packed = {}
for i = 3, #ARGV do packed[#packed + 1] = pack_job(ARGV[i]) end
return packed
