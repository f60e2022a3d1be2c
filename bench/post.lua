-- wrk script for make bench: POSTs the shared Smartlead sample payloads in
-- turn to one path, and prints the run's figures as one JSON line.
--   wrk -s bench/post.lua URL -- PATH FILE...
-- Each wrk thread has its own Lua state; the requests are formatted once
-- in init() so request() costs the load generator nothing per call.

-- WRK_DELAY_MS (environment, optional): each connection waits that long
-- before each request, so sides of different speed are driven at about
-- the same rate (bench/ingress_ab.py: CPU per request at equal load).
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "")
if pause then
  function delay()
    return pause
  end
end

local reqs = {}
local n = 0
local i = 0
local threads = 0

-- Runs in the main Lua state, once per thread before init().
function setup(thread)
  thread:set("first", threads)
  threads = threads + 1
end

function init(args)
  local path = args[1]
  for k = 2, #args do
    local f = assert(io.open(args[k], "rb"))
    local body = f:read("*a")
    f:close()
    n = n + 1
    reqs[n] = wrk.format("POST", path,
                         {["Content-Type"] = "application/json"}, body)
  end
  assert(n > 0, "post.lua: no payload files given")
  -- Threads start at different payloads so the servers see a mix at once.
  i = ((first or 0) * 5) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
