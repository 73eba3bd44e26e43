-- cancel (Storage.cancel). ARGV: job_id, level (1 cooperative, 2 forced), now. Cancels a
-- pending job (cascading) or flags a running one, atomically. Returns 'cancelled',
-- 'requested', 'not_found' or 'finished' (the values of CancelResult).

local id = ARGV[3]
local status = redis.call('HGET', job_key(id), 'status')
if not status then return 'not_found' end
if status == PENDING and cancel_pending_id(id, ARGV[5]) then return 'cancelled' end
if status == RUNNING and request_cancel_id(id, tonumber(ARGV[4])) then return 'requested' end
return 'finished'
