-- take_rate_slot. ARGV: key, interval_ms, now. The rates hash maps each key to its next
-- free time (absent: 0). A free slot (next free time <= now) is taken: the next free time
-- becomes now + interval_ms and false is returned; otherwise nothing changes and the next
-- free time is returned.

local key, interval, now = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local free_at = redis.call('HGET', RATES_KEY, key)
if free_at and tonumber(free_at) > now then return free_at end
redis.call('HSET', RATES_KEY, key, int(now + interval))
return false
