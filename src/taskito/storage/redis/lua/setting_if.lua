-- setting_if: compare and set one setting. ARGV: key, '1' when a value is expected (else the
-- key must be unset), the expected value, the new value. Returns 1 when stored, else 0.

local settings = P .. ':settings'
local key, has_expected, expected, value = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local current = redis.call('HGET', settings, key)
if has_expected == '1' then
  if current ~= expected then return 0 end
elseif current then
  return 0
end
redis.call('HSET', settings, key, value)
return 1
