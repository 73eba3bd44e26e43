-- Distributed locks: lock:<name> is a hash of owner_id, acquired_at and expires_at (on the
-- callers' clock, as given). ARGV[3]: 'acquire', 'extend' or 'release'; then name, owner,
-- and for acquire/extend ttl_ms, now and the key's housekeeping lifetime (ms). Returns 1 when
-- it applied, else 0.
--   acquire: when free or expired (expires_at <= now), even for the same owner.
--   extend: while ``owner`` holds it unexpired, expires_at = now + ttl_ms.
--   release: when ``owner`` holds it, delete it.
-- The key also carries a Redis expiry well past expires_at, so abandoned locks do not pile up;
-- it never decides who holds a lock.

local mode, name, owner = ARGV[3], ARGV[4], ARGV[5]
local key = lock_key(name)
local held = redis.call('HMGET', key, 'owner_id', 'expires_at')

if mode == 'release' then
  if held[1] ~= owner then return 0 end
  redis.call('DEL', key)
  return 1
end

local ttl, now, keep_ms = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local live = held[1] and tonumber(held[2]) > now
if mode == 'acquire' then
  if live then return 0 end
  redis.call('HSET', key, 'owner_id', owner, 'acquired_at', ARGV[7],
    'expires_at', int(now + ttl))
else
  if not live or held[1] ~= owner then return 0 end
  redis.call('HSET', key, 'expires_at', int(now + ttl))
end
redis.call('PEXPIRE', key, keep_ms)
return 1
