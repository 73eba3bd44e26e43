-- enqueue_replay (after lib_enqueue). ARGV: original job id, now, packed job. Enqueues the
-- copy as enqueue does and records a replay: replay:<seq> holds the original and replay ids,
-- the time and the original's error (read from the job, or from its archived copy);
-- replays:<original id> lists the sequence numbers. Returns {'new'} or {'existing', packed
-- holder} (a held unique key: the holder is recorded as the replay).

local original, now = ARGV[3], ARGV[4]
local jobs = {parse_new_job(ARGV[5])}
local holder, problem = check_new_jobs(jobs, 'one')
if problem then return redis.error_reply(problem) end

local replay_id, reply = jobs[1].id, {'new'}
if holder then
  replay_id, reply = holder, {'existing', pack_job(holder)}
else
  insert_new_jobs(jobs)
end

local original_error = redis.call('HGET', job_key(original), 'error')
if not original_error and redis.call('EXISTS', job_key(original)) == 0 then
  original_error = redis.call('HGET', archived_key(original), 'error')
end
local seq = int(redis.call('HINCRBY', SEQ_KEY, 'replays', 1))
local fields = {'original_job_id', original, 'replay_job_id', replay_id, 'replayed_at', now}
if original_error then
  fields[#fields + 1] = 'original_error'
  fields[#fields + 1] = original_error
end
redis.call('HSET', replay_key(seq), unpack(fields))
redis.call('RPUSH', replays_key(original), seq)
if not holder then publish() end
return reply
