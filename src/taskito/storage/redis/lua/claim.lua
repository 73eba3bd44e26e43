-- claim (after lib_claim). ARGV: worker_id, now, lease deadline (server clock), limit, nstag,
-- then either 'all' (every queue of the namespace) or 'list' followed by queue names.
-- Returns {expired_any, packed job, packed job, ...}.

local queues = nil
if ARGV[8] ~= 'all' then
  queues = {}
  for i = 9, #ARGV do queues[#queues + 1] = ARGV[i] end
end
local result = claim_jobs(ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], queues)
if result[1] == 1 then publish() end
return result
