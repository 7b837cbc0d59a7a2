-- insert: JobInsertMany. ARGV: now, n, then the fields of n jobs as
-- insert_jobs (insertjobs.lua) reads them, and returns its reply.
return insert_jobs(ARGV[1], ARGV, 2, tonumber(ARGV[2]))
