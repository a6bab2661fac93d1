-- wrk script of bench/jobs.sh: GET with "Authorization: Bearer $JOBS_KEY"
-- when set (a static header: wrk's fast path), nothing otherwise (the static
-- file), and bench/report.lua's BENCH line.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local key = os.getenv("JOBS_KEY")
wrk.method = "GET"
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
wrk.headers["Accept"] = "application/json"
