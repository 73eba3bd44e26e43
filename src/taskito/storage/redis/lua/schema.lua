-- Opening a prefix. ARGV: the schema version this code writes. Records it on a fresh prefix
-- and returns the recorded one.

local META_KEY = P .. ':meta'
redis.call('HSETNX', META_KEY, 'schema_version', ARGV[3])
return redis.call('HGET', META_KEY, 'schema_version')
