-- update_progress. ARGV: job_id, progress. Returns 1, or 0 for an unknown job.

local key = job_key(ARGV[3])
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'progress', ARGV[4])
return 1
