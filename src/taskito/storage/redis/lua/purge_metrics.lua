-- purge_metrics, one chunk. ARGV: before, limit. Deletes up to ``limit`` of the oldest metric
-- rows finished before ``before`` (the lowest scores: ranks 0 to n - 1). Returns how many.

local before, limit = ARGV[3], tonumber(ARGV[4])
local count = redis.call('ZCOUNT', METRICS_KEY, '-inf', '(' .. before)
if count > limit then count = limit end
if count > 0 then redis.call('ZREMRANGEBYRANK', METRICS_KEY, 0, count - 1) end
return count
