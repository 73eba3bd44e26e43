-- update_workflow_run (after lib_workflow). ARGV: the call's token, run id, the expect count
-- and the expected states, the change count and the packed name/value pairs, and the packed
-- parent settlement ('' for none: run id, node name, status, error, now). Returns 1 (applied,
-- or a retry of an applied call) or 0 (missing or not in expect: nothing written).

local token, run_id = ARGV[3], ARGV[4]
if wf.applied_before(token) then return 1 end
local key = wf.run_key(run_id)
local state = redis.call('HGET', key, 'state')
local expect_count = tonumber(ARGV[5])
if not state or not wf.set_of(6, expect_count)[state] then return 0 end
local at = 6 + expect_count
for _, pair in ipairs(wf.pairs_of(tonumber(ARGV[at]), ARGV[at + 1])) do
  local field, value = pair[1], pair[2]
  if field == 'state' then
    if value ~= state then wf.move_state(run_id, state, value) end
    state = value
  elseif value then
    redis.call('HSET', key, field, value)
  else
    redis.call('HDEL', key, field)
  end
end
wf.sync_due(run_id)
local settle = ARGV[at + 2]
if settle ~= '' then
  local parent = unpack_fields(settle, 5)
  wf.settle_node(parent[1], parent[2], nil, parent[3], parent[4], nil, parent[5])
end
wf.record_applied(token)
return 1
