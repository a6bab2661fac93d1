-- wrk script of bench/jobs.sh: POST /api/v1/jobs with a fresh
-- Idempotency-Key per request ("bench-<run>-<thread>-<counter>", 16+
-- characters), the body in $JOB_BODY, "Authorization: Bearer $JOBS_KEY",
-- and bench/report.lua's BENCH line at the end (non2xx counts anything but
-- 2xx; the script requires 0).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")   -- defines the global done()

local key = os.getenv("JOBS_KEY") or error("JOBS_KEY is not set")
local body = os.getenv("JOB_BODY") or error("JOB_BODY is not set")
local run = os.getenv("RUN_ID") or tostring(os.time())

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local counter = 0
local headers = {
  ["Authorization"] = "Bearer " .. key,
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json",
}

function request()
  counter = counter + 1
  headers["Idempotency-Key"] = string.format("bench-%s-%02d-%010d", run, tid, counter)
  return wrk.format("POST", nil, headers, body)
end
