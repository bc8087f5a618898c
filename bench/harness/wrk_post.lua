-- wrk script: POST a body read from a file, with headers; report as one JSON line.
--   wrk ... -s wrk_post.lua URL -- BODY_FILE UNIQUE(0|RUN-ID) "name: value" ...
-- UNIQUE other than 0 replaces the marker @@N@@ in the body with the run's id and a
-- per-request counter (thread id + sequence), so every request is distinct (cache
-- misses), also from every request of earlier runs against the same cache.
local counter = 0
local unique = false
local pre, post
local run_id = ""
local tid = 0
local threads = {}

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local body = f:read("*a")
  f:close()
  unique = args[2] ~= "0"
  run_id = args[2]
  wrk.method = "POST"
  for i = 3, #args do
    local k, v = args[i]:match("^([^:]+):%s*(.*)$")
    if k then wrk.headers[k] = v end
  end
  if unique then
    local s, e = body:find("@@N@@", 1, true)
    pre, post = body:sub(1, s - 1), body:sub(e + 1)
  else
    wrk.body = body
  end
end

function request()
  if not unique then
    return wrk.format()
  end
  counter = counter + 1
  return wrk.format(nil, nil, nil, pre .. run_id .. "-" .. tid .. "-" .. counter .. post)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
