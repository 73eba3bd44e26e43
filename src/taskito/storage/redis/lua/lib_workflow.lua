-- Workflow runs, shared by the workflow scripts and by finish (settlement); included after the
-- prelude (and after lib_enqueue where a script inserts jobs). One table, ``wf``, holds it all
-- (a script has at most 200 locals). The key layout is in storage/redis/workflows.py; a node is
-- one packed string (unpack_fields) in its run's node hash, fields as in NODE_FIELDS below.

local wf = {}

wf.JOBS_KEY = P .. ':wfjobs'
wf.DUE_KEY = P .. ':wfdue'
wf.GATES_KEY = P .. ':wfgates'
function wf.run_key(id) return P .. ':wfrun:' .. id end
function wf.nodes_key(run_id) return P .. ':wfnodes:' .. run_id end
function wf.runs_key(nstag) return P .. ':wfruns:' .. nstag end
function wf.state_key(state, nstag) return P .. ':wfstate:' .. state .. ':' .. nstag end
function wf.children_key(id) return P .. ':wfchildren:' .. id end
function wf.op_key(token) return P .. ':wfop:' .. token end

-- A retried call (after a dropped connection) finds the token of the attempt that applied.
wf.OP_TTL_MS = 120000

wf.RUN_TERMINAL = {completed = true, failed = true, cancelled = true}
wf.NODE_TERMINAL = {completed = true, failed = true, skipped = true, cache_hit = true}

wf.NODE_FIELDS = {
  'name', 'kind', 'status', 'position', 'job_id', 'error', 'result_hash', 'payload',
  'condition_blob', 'fan_out_index', 'fan_out_count', 'child_run_id', 'gate_deadline_at',
  'gate_decision', 'input_digest', 'started_at', 'completed_at',
}
wf.NODE_COUNT = #wf.NODE_FIELDS
wf.NODE_INDEX = {}
for i, name in ipairs(wf.NODE_FIELDS) do wf.NODE_INDEX[name] = i end
local N_NAME, N_STATUS, N_JOB, N_ERROR, N_HASH, N_DEADLINE, N_COMPLETED = 1, 3, 5, 6, 7, 13, 17

wf.RUN_FIELDS = {
  'id', 'definition_id', 'name', 'version', 'namespace', 'state', 'on_failure', 'started_at',
  'completed_at', 'error', 'parent_run_id', 'parent_node_name', 'base_run_id', 'advance_due_at',
}

-- (run id, node name) as one string: NUL escaped as NUL 0x01 in each part, joined by two NULs.
function wf.ref(run_id, name)
  return (string.gsub(run_id, '%z', '\0\1')) .. '\0\0' .. (string.gsub(name, '%z', '\0\1'))
end

function wf.split_ref(ref)
  local at = string.find(ref, '\0\0', 1, true)
  local run_id = string.gsub(string.sub(ref, 1, at - 1), '%z\1', '\0')
  local name = string.gsub(string.sub(ref, at + 2), '%z\1', '\0')
  return run_id, name
end

function wf.nstag(namespace)
  if not namespace then return '-' end
  return 'ns' .. #namespace .. '=' .. namespace
end

function wf.pack(values, count)
  local lengths, present = {}, {}
  for i = 1, count do
    local value = values[i]
    if value then
      lengths[i] = #value
      present[#present + 1] = value
    else
      lengths[i] = -1
    end
  end
  return struct.pack('>' .. string.rep('i4', count), unpack(lengths)) .. table.concat(present)
end

function wf.copy(values)
  local copied = {}
  for i = 1, wf.NODE_COUNT do copied[i] = values[i] end
  return copied
end

-- A set of strings from ARGV[first .. first + count - 1].
function wf.set_of(first, count)
  local set = {}
  for i = first, first + count - 1 do set[ARGV[i]] = true end
  return set
end

function wf.applied_before(token) return redis.call('EXISTS', wf.op_key(token)) == 1 end

function wf.record_applied(token)
  redis.call('SET', wf.op_key(token), '1', 'PX', wf.OP_TTL_MS)
end

function wf.load_node(run_id, name)
  local blob = redis.call('HGET', wf.nodes_key(run_id), name)
  if not blob then return nil end
  return unpack_fields(blob, wf.NODE_COUNT)
end

-- Store a node (``old``: its values before, nil for a new one) and keep the job index and the
-- gate deadlines in step with it.
function wf.write_node(run_id, values, old)
  local name = values[N_NAME]
  redis.call('HSET', wf.nodes_key(run_id), name, wf.pack(values, wf.NODE_COUNT))
  local ref = wf.ref(run_id, name)
  local job_id, old_job = values[N_JOB], old and old[N_JOB]
  if old_job and old_job ~= job_id and redis.call('HGET', wf.JOBS_KEY, old_job) == ref then
    redis.call('HDEL', wf.JOBS_KEY, old_job)
  end
  if job_id and job_id ~= old_job then redis.call('HSET', wf.JOBS_KEY, job_id, ref) end
  if values[N_STATUS] == 'waiting_approval' and values[N_DEADLINE] then
    redis.call('ZADD', wf.GATES_KEY, values[N_DEADLINE], ref)
  elseif old and old[N_STATUS] == 'waiting_approval' and old[N_DEADLINE] then
    redis.call('ZREM', wf.GATES_KEY, ref)
  end
end

-- The due index holds a run while it has an advance_due_at and is not terminal.
function wf.sync_due(run_id)
  local run = redis.call('HMGET', wf.run_key(run_id), 'state', 'advance_due_at')
  if run[1] and run[2] and not wf.RUN_TERMINAL[run[1]] then
    redis.call('ZADD', wf.DUE_KEY, run[2], run_id)
  else
    redis.call('ZREM', wf.DUE_KEY, run_id)
  end
end

-- Settlement marks a run due unless it is terminal (or missing): at ``now`` when its due time
-- is unset or later (a safety-net time), else one less than its due time: due at once either
-- way, and the value always changes, so an advance that read the old one keeps the run due
-- (clear_workflow_due).
function wf.mark_due(run_id, now)
  local key = wf.run_key(run_id)
  local run = redis.call('HMGET', key, 'state', 'advance_due_at')
  if run[1] and not wf.RUN_TERMINAL[run[1]] then
    local due = now
    if run[2] and tonumber(run[2]) <= tonumber(now) then due = int(tonumber(run[2]) - 1) end
    redis.call('HSET', key, 'advance_due_at', due)
    redis.call('ZADD', wf.DUE_KEY, due, run_id)
  end
end

-- Move node ``name`` of ``run_id`` from a non-terminal status to ``status`` with ``error``
-- and ``result_hash`` (each: nil keeps it, false clears it), completed at ``now``, only while
-- its job is ``job_id`` (nil: any); then mark the run due. Returns whether it moved.
function wf.settle_node(run_id, name, job_id, status, error, result_hash, now)
  local values = wf.load_node(run_id, name)
  if not values or wf.NODE_TERMINAL[values[N_STATUS]] then return false end
  if job_id and values[N_JOB] ~= job_id then return false end
  local old = wf.copy(values)
  values[N_STATUS] = status
  if error ~= nil then values[N_ERROR] = error end
  if result_hash ~= nil then values[N_HASH] = result_hash end
  values[N_COMPLETED] = now
  wf.write_node(run_id, values, old)
  wf.mark_due(run_id, now)
  return true
end

-- A job's terminal outcome settles its node (if it has one): complete -> completed with the
-- result's digest; cancelled -> failed "cancelled"; dead or failed -> failed with the error.
function wf.settle_job(job_id, code, error, digest, now)
  local ref = redis.call('HGET', wf.JOBS_KEY, job_id)
  if not ref then return end
  local run_id, name = wf.split_ref(ref)
  if code == COMPLETE then
    wf.settle_node(run_id, name, job_id, 'completed', nil, digest, now)
  elseif code == CANCELLED then
    wf.settle_node(run_id, name, job_id, 'failed', 'cancelled', nil, now)
  else
    wf.settle_node(run_id, name, job_id, 'failed', error or false, nil, now)
  end
end

-- A run's state changes from ``from`` to ``to``: its state index follows.
function wf.move_state(run_id, from, to)
  local key = wf.run_key(run_id)
  local run = redis.call('HMGET', key, 'namespace', 'started_at')
  local tag = wf.nstag(run[1])
  redis.call('ZREM', wf.state_key(from, tag), run_id)
  redis.call('ZADD', wf.state_key(to, tag), run[2], run_id)
  redis.call('HSET', key, 'state', to)
end

-- Packed name/value pairs (ARGV ``blob`` holding ``count`` pairs) as a list of {name, value}.
function wf.pairs_of(count, blob)
  if count == 0 then return {} end
  local flat = unpack_fields(blob, 2 * count)
  local list = {}
  for i = 1, count do list[i] = {flat[2 * i - 1], flat[2 * i]} end
  return list
end
