-- save_workflow_definition (after lib_workflow). ARGV: id, name, version, digest, dag,
-- created_at, the (name, version, digest) index member. Stores the definition unless one with
-- that key exists; returns the stored one's fields (HGETALL), or {'taken'} when the id belongs
-- to a definition under another key.

local id, key = ARGV[3], ARGV[9]
local index = P .. ':wfdefindex'
local existing = redis.call('HGET', index, key)
if existing then return redis.call('HGETALL', P .. ':wfdef:' .. existing) end
local definition = P .. ':wfdef:' .. id
if redis.call('EXISTS', definition) == 1 then return {'taken'} end
redis.call('HSET', definition, 'id', id, 'name', ARGV[4], 'version', ARGV[5], 'digest', ARGV[6],
  'dag', ARGV[7], 'created_at', ARGV[8])
redis.call('HSET', index, key, id)
return redis.call('HGETALL', definition)
