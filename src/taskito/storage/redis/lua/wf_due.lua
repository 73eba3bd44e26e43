-- clear_workflow_due (after lib_workflow). ARGV: the call's token, run id, the due time seen
-- and the next one ('' for none). Sets advance_due_at to the next only while it still equals
-- the one seen; returns 1 when set (or a retry of a call that set it), else 0.

local token, run_id, seen, next_due = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if wf.applied_before(token) then return 1 end
local key = wf.run_key(run_id)
if redis.call('EXISTS', key) == 0 then return 0 end
local due = redis.call('HGET', key, 'advance_due_at')
if due then
  if seen == '' or tonumber(due) ~= tonumber(seen) then return 0 end
elseif seen ~= '' then
  return 0
end
if next_due == '' then
  redis.call('HDEL', key, 'advance_due_at')
else
  redis.call('HSET', key, 'advance_due_at', next_due)
end
wf.sync_due(run_id)
wf.record_applied(token)
return 1
