-- add_log. ARGV: job_id, logged_at, wake ('1' for partial results), the encoded entry.
-- Returns the entry's sequence number.

local job_id, logged_at, wake, entry = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local seq = string.format('%016d', redis.call('HINCRBY', SEQ_KEY, 'logs', 1))
redis.call('HSET', LOGS_KEY, seq, entry)
redis.call('ZADD', LOG_INDEX_KEY, logged_at, seq)
redis.call('RPUSH', job_logs_key(job_id), seq)
if wake == '1' then publish() end
return seq
