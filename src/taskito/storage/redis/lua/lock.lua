-- Distributed locks: lock:<name> is a hash of owner_id, acquired_at, expires_at and
-- fencing_token; locktokens is a hash of the last fencing token of every lock name (it has no
-- expiry, so a token never goes back). Times are the server's clock (TIME), in ms.
-- ARGV[3]: 'acquire', 'extend', 'release', 'held' or 'info'; then name, and for all but 'info'
-- owner and token ('acquire': none), then for 'acquire'/'extend' ttl_ms and the key's
-- housekeeping lifetime (ms).
--   acquire: when free or expired, even for the same owner; returns the new token, or 0.
--   extend: while owner holds it under token, unexpired: expires_at = now + ttl_ms; 1 or 0.
--   release: when owner holds it under token, delete it; 1 or 0.
--   held: 1 while owner holds it under token, unexpired; else 0.
--   info: {owner, acquired_at, expires_at, token} of an unexpired holder, or {}.
-- The key also carries a Redis expiry well past expires_at, so abandoned locks do not pile up;
-- it never decides who holds a lock.

local mode, name = ARGV[3], ARGV[4]
local key = lock_key(name)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local held = redis.call('HMGET', key, 'owner_id', 'expires_at', 'fencing_token', 'acquired_at')
local live = held[1] and tonumber(held[2]) > now

if mode == 'info' then
  if not live then return {} end
  return {held[1], held[4], held[2], held[3] or '0'}
end

local owner = ARGV[5]
if mode == 'acquire' then
  if live then return 0 end
  local ttl, keep_ms = tonumber(ARGV[6]), ARGV[7]
  local token = redis.call('HINCRBY', P .. ':locktokens', name, 1)
  redis.call('HSET', key, 'owner_id', owner, 'acquired_at', int(now),
    'expires_at', int(now + ttl), 'fencing_token', token)
  redis.call('PEXPIRE', key, keep_ms)
  return token
end

local mine = held[1] == owner and held[3] == ARGV[6]
if mode == 'release' then
  if not mine then return 0 end
  redis.call('DEL', key)
  return 1
end
if not (live and mine) then return 0 end
if mode == 'held' then return 1 end
-- extend
local ttl, keep_ms = tonumber(ARGV[7]), ARGV[8]
redis.call('HSET', key, 'expires_at', int(now + ttl))
redis.call('PEXPIRE', key, keep_ms)
return 1
