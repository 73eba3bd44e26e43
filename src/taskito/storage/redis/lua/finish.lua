-- finish_many (after lib_finish). ARGV: now, count, then one packed outcome per argument.
-- Returns one 1/0 per outcome.

local applied, any = finish_outcomes(ARGV[3], tonumber(ARGV[4]), 5)
if any then publish() end
return applied
