-- wrk script of bench/me.sh: GET with "Authorization: Bearer $ME_KEY" (a
-- static header, so wrk stays on its fast path) and bench/report.lua's
-- BENCH line at the end. Without ME_KEY it sends no Authorization (the
-- static file).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")   -- defines the global done()

local key = os.getenv("ME_KEY")
wrk.method = "GET"
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
wrk.headers["Accept"] = "application/json"
