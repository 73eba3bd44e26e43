-- cancel_pending. ARGV: job_id, now. A pending job becomes cancelled without an error and
-- its pending dependents cascade. Returns 1, or 0 when the job is not pending.

local id, now = ARGV[3], ARGV[4]
local job = load_job(id)
if not job or job.status ~= PENDING then return 0 end
cancel_pending_job(job, now, nil)
cascade_cancel(id, 'dependency cancelled: ' .. id, now)
publish()
return 1
