-- finish_and_claim (after lib_finish and lib_claim): the outcomes, then the claim, in one
-- script. ARGV: now, count, the count packed outcomes, then worker_id, lease deadline (server
-- clock), limit, nstag, and either 'all' or 'list' followed by queue names.
-- Returns {{1/0 per outcome}, expired_any, packed job, packed job, ...}.

local now, count = ARGV[3], tonumber(ARGV[4])
local applied, any = finish_outcomes(now, count, 5)
local at = 5 + count
local queues = nil
if ARGV[at + 4] ~= 'all' then
  queues = {}
  for i = at + 5, #ARGV do queues[#queues + 1] = ARGV[i] end
end
local result = claim_jobs(ARGV[at], now, ARGV[at + 1], tonumber(ARGV[at + 2]), ARGV[at + 3],
  queues)
if any or result[1] == 1 then publish() end
table.insert(result, 1, applied)
return result
