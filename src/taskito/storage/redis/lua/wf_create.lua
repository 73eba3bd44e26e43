-- create_workflow_run (after lib_enqueue and lib_workflow). ARGV: the call's token, the packed
-- run (wf.RUN_FIELDS), the node count, the packed nodes, the job count, the packed jobs.
-- All or nothing: 'exists' when the run (or a node of it) is stored already, an error reply
-- for a job that cannot be inserted, else 'new' (also for a retry of an applied call).

local token = ARGV[3]
if wf.applied_before(token) then return 'new' end
local fields = unpack_fields(ARGV[4], #wf.RUN_FIELDS)
local run_id = fields[1]
local run_key = wf.run_key(run_id)
if redis.call('EXISTS', run_key) == 1 or redis.call('EXISTS', wf.nodes_key(run_id)) == 1 then
  return 'exists'
end
local node_count = tonumber(ARGV[5])
local job_at = 6 + node_count
local jobs = {}
for n = 1, tonumber(ARGV[job_at]) do jobs[n] = parse_new_job(ARGV[job_at + n]) end
local _, problem = check_new_jobs(jobs, 'many')
if problem then return redis.error_reply(problem) end

local run = {}
for i, name in ipairs(wf.RUN_FIELDS) do
  if fields[i] then
    run[#run + 1] = name
    run[#run + 1] = fields[i]
  end
end
redis.call('HSET', run_key, unpack(run))
-- RUN_FIELDS: 5 namespace, 6 state, 8 started_at, 11 parent_run_id
local tag, started_at = wf.nstag(fields[5]), fields[8]
redis.call('ZADD', wf.runs_key(tag), started_at, run_id)
redis.call('ZADD', wf.state_key(fields[6], tag), started_at, run_id)
if fields[11] then redis.call('ZADD', wf.children_key(fields[11]), started_at, run_id) end
wf.sync_due(run_id)
for n = 1, node_count do
  wf.write_node(run_id, unpack_fields(ARGV[5 + n], wf.NODE_COUNT), nil)
end
insert_new_jobs(jobs)
wf.record_applied(token)
if #jobs > 0 then publish() end
return 'new'
