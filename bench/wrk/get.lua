-- GET one URL again and again (bench/api.py's read targets). No response() callback: wrk
-- then does not hand each response to Lua, which keeps the load generator's own cost low;
-- it counts statuses other than 2xx/3xx itself.
package.path = os.getenv("BENCH_LUA_PATH") .. "/?.lua;" .. package.path
local bench = require("common")

wrk.headers = bench.headers()
