-- update_workflow_node (after lib_enqueue and lib_workflow). ARGV: the call's token, run id,
-- node name, due_at ('' for none), the expect count and the expected statuses, the change
-- count and the packed name/value pairs, the new node count and the packed nodes, the job
-- count and the packed jobs. Returns 1 (applied, or a retry of an applied call), 0 (missing
-- or not in expect: nothing written), {'exists', name} for a new node already stored, or an
-- error reply for a job that cannot be inserted.

local token, run_id, name, due_at = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
if wf.applied_before(token) then return 1 end
local values = wf.load_node(run_id, name)
local expect_count = tonumber(ARGV[7])
if not values or not wf.set_of(8, expect_count)[values[3]] then return 0 end
local at = 8 + expect_count
local changes = wf.pairs_of(tonumber(ARGV[at]), ARGV[at + 1])
local node_count = tonumber(ARGV[at + 2])
local nodes = {}
for n = 1, node_count do
  nodes[n] = unpack_fields(ARGV[at + 2 + n], wf.NODE_COUNT)
  if redis.call('HEXISTS', wf.nodes_key(run_id), nodes[n][1]) == 1 then
    return {'exists', nodes[n][1]}
  end
end
at = at + 3 + node_count
local jobs = {}
for n = 1, tonumber(ARGV[at]) do jobs[n] = parse_new_job(ARGV[at + n]) end
local _, problem = check_new_jobs(jobs, 'many')
if problem then return redis.error_reply(problem) end

local old = wf.copy(values)
for _, pair in ipairs(changes) do values[wf.NODE_INDEX[pair[1]]] = pair[2] end
wf.write_node(run_id, values, old)
for _, node in ipairs(nodes) do wf.write_node(run_id, node, nil) end
insert_new_jobs(jobs)
if due_at ~= '' and redis.call('EXISTS', wf.run_key(run_id)) == 1 then
  redis.call('HSET', wf.run_key(run_id), 'advance_due_at', due_at)
  wf.sync_due(run_id)
end
wf.record_applied(token)
if #jobs > 0 then publish() end
return 1
