-- Shared by the wrk scripts of bench/api.py: headers from the environment, and a summary
-- printed as one JSON line ("BENCH {...}") that bench/api.py reads.
--
-- BENCH_HEADERS: "Name: value" lines sent with every request (a token, a session cookie).
-- Each response's X-Bench-Server-Ms (the server's own time for it) and X-Bench-Cache
-- ("hit" / "miss" of the rankings payload cache) are gathered per kind of request.

local bench = {}

function bench.headers()
  local headers = {}
  for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  return headers
end

-- Per thread: server times by kind ("read", "miss", "write"), statuses that were not
-- expected, counts.
server_ms = {read = {}, miss = {}, write = {}}
unexpected = 0
statuses = {}

function bench.record(kind, status, expected, headers)
  if status ~= expected then
    unexpected = unexpected + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
  local ms = tonumber(headers["X-Bench-Server-Ms"] or "")
  if ms then
    if kind == "read" and headers["X-Bench-Cache"] == "miss" then kind = "miss" end
    local list = server_ms[kind]
    list[#list + 1] = ms
  end
end

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  threads[#threads + 1] = thread
end

local function joined(list)
  local parts = {}
  for i = 1, #list do parts[i] = string.format("%.3f", list[i]) end
  return table.concat(parts, ",")
end

function bench.serialise()
  -- thread:get copies only plain values: hand the lists over as strings.
  server_ms_read = joined(server_ms.read)
  server_ms_miss = joined(server_ms.miss)
  server_ms_write = joined(server_ms.write)
  local parts = {}
  for status, n in pairs(statuses) do parts[#parts + 1] = status .. "x" .. n end
  unexpected_statuses = table.concat(parts, " ")
end

function done(summary, latency, requests)
  local function gather(name)
    local all = {}
    for _, t in ipairs(threads) do
      local text = t:get(name)
      if text and text ~= "" then all[#all + 1] = text end
    end
    return table.concat(all, ",")
  end
  local bad, odd = 0, {}
  for _, t in ipairs(threads) do
    bad = bad + (t:get("unexpected") or 0)
    local text = t:get("unexpected_statuses")
    if text and text ~= "" then odd[#odd + 1] = text end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, '
    .. '"write_errors": %d, "timeouts": %d, "non_2xx": %d, "unexpected": %d, '
    .. '"unexpected_statuses": "%s", '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"server_ms": {"read": [%s], "miss": [%s], "write": [%s]}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status, bad,
    table.concat(odd, " "),
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    gather("server_ms_read"), gather("server_ms_miss"), gather("server_ms_write")))
end

return bench
