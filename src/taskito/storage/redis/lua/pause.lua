-- set_queue_paused. ARGV: queue, '1' to pause or '0' to resume. The paused set is read by
-- every claim. Resuming publishes the usual change notice, so idle workers claim at once.
-- Returns 1 when the queue's state changed, else 0.

local queue, pause = ARGV[3], ARGV[4] == '1'
if pause then return redis.call('SADD', PAUSED_KEY, queue) end
local changed = redis.call('SREM', PAUSED_KEY, queue)
if changed == 1 then publish() end
return changed
