-- workflow_node_for_job (after lib_workflow). ARGV: job id. Returns {node ref, packed node}
-- of the node whose job it is, or nil.

local ref = redis.call('HGET', wf.JOBS_KEY, ARGV[3])
if not ref then return nil end
local run_id, name = wf.split_ref(ref)
local blob = redis.call('HGET', wf.nodes_key(run_id), name)
if not blob then return nil end
return {ref, blob}
