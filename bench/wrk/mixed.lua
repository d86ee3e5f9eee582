-- Reads of the rankings with a write among them (bench/api.py's mixed target): every
-- BENCH_WRITE_EVERY-th request of a thread POSTs a new session of the holiday with the staff
-- token (BENCH_WRITE_AUTH), so the rankings' cache is invalidated while readers keep coming;
-- the others GET the rankings (wrk's URL) with the reader's headers.
--
-- Each thread writes for its own official (BENCH_OFFICIALS, one id per thread), one-minute
-- sessions 61 s apart from BENCH_START (Unix seconds, the holiday's first moment), from slot
-- BENCH_SLOT (each run of wrk starts further on), so no two writes clash.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local bench = require("common")

local every = tonumber(os.getenv("BENCH_WRITE_EVERY") or "50")
local start = tonumber(os.getenv("BENCH_START"))
local read_headers = bench.headers()
local write_headers = {["Authorization"] = os.getenv("BENCH_WRITE_AUTH"),
                       ["Content-Type"] = "application/json"}
local platforms = {"douyin", "kuaishou", "taobao_live", "wechat_channels", "jd", "pinduoduo",
                   "other"}
local officials = {}
for id in (os.getenv("BENCH_OFFICIALS") or ""):gmatch("%d+") do officials[#officials + 1] = id end

local sent = 0
local writes = tonumber(os.getenv("BENCH_SLOT") or "0")

local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

function request()
  sent = sent + 1
  if sent % every == 0 then
    local slot = writes
    writes = writes + 1
    local began = start + (slot % 7000) * 61
    local body = string.format(
      '{"official": %s, "platform": "%s", "title": "Bench write %d-%d", "started_at": "%s",'
      .. ' "ended_at": "%s", "audience": %d, "orders": %d, "revenue": "%d.50"}',
      officials[thread_id + 1], platforms[math.floor(slot / 7000) % 7 + 1], thread_id, slot,
      iso(began), iso(began + 60), 1000 + slot, 10 + slot % 50, 100 + slot)
    return wrk.format("POST", "/api/v1/sessions/", write_headers, body)
  end
  return wrk.format("GET", nil, read_headers)
end

local seen = 0

function response(status, headers, body)
  -- Which request a response answers: the server says (gunicorn's sync workers close the
  -- connection after each response, so wrk reconnects, and order is not to be trusted).
  local kind = headers["X-Bench-Method"] == "POST" and "write" or "read"
  bench.record(kind, status, kind == "write" and 201 or 200, headers)
  seen = seen + 1
  if seen % 20 == 0 then bench.serialise() end
end
