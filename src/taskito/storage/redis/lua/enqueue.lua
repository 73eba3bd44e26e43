-- enqueue / enqueue_many (after lib_enqueue). ARGV[3]: 'one' (a held unique key returns the
-- holder) or 'many' (a held unique key is an error); ARGV[4]: the job count; then one packed
-- job per argument. All or nothing. Returns {'new'} or {'existing', packed holder}.

local mode = ARGV[3]
local count = tonumber(ARGV[4])

local jobs = {}
for n = 1, count do jobs[n] = parse_new_job(ARGV[4 + n]) end

local holder, problem = check_new_jobs(jobs, mode)
if problem then return redis.error_reply(problem) end
if holder then return {'existing', pack_job(holder)} end

insert_new_jobs(jobs)
publish()
return {'new'}
