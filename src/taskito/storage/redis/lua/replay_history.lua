-- replay_history. ARGV: original job id. Its replays, oldest first, each as {seq, replay job
-- id, replayed_at, original error, the replay job's current error} (false: none; the replay
-- job's error is read now, false once that job is gone).

local history = {}
for _, seq in ipairs(redis.call('LRANGE', replays_key(ARGV[3]), 0, -1)) do
  local entry = redis.call('HMGET', replay_key(seq), 'replay_job_id', 'replayed_at',
    'original_error')
  if entry[1] then
    local replay_error = redis.call('HGET', job_key(entry[1]), 'error')
    history[#history + 1] = {seq, entry[1], entry[2], entry[3], replay_error}
  end
end
return history
