-- request_cancel. ARGV: job_id, level (1 cooperative, 2 forced). Flags a running job; a
-- request never downgrades. Returns 1, or 0 when the job is not running.

if request_cancel_id(ARGV[3], tonumber(ARGV[4])) then return 1 end
return 0
