-- cancel_pending. ARGV: job_id, now. A pending job becomes cancelled without an error and
-- its pending dependents cascade. Returns 1, or 0 when the job is not pending.

if cancel_pending_id(ARGV[3], ARGV[4]) then return 1 end
return 0
