-- wrk script for every scenario, so the client does the same work whichever target it loads.
-- Usage: wrk ... -s load.lua URL -- TOKENS_FILE
-- A file with one line is the hot case; with N lines request i carries token i mod N (cold).
-- Requests are formatted once in init(); request() only indexes a table.
-- done() prints one line "BENCH_JSON {...}" (latencies in microseconds) for the runner.

local threads = {}
local reqs = {}
local n, i = 0, 0
non200 = 0 -- global: done() reads it from each thread's Lua state

function setup(thread)
  table.insert(threads, thread)
  thread:set('id', #threads - 1)
end

function init(args)
  local file = args[1]
  if not file then error('load.lua: pass the tokens file after --') end
  for line in io.lines(file) do
    if #line > 0 then
      n = n + 1
      reqs[n] = wrk.format('GET', nil, { ['Authorization'] = 'Bearer ' .. line })
    end
  end
  if n == 0 then error('load.lua: no tokens in ' .. file) end
  -- Threads start at different places in the rotation, so they never send the same token together.
  i = (id or 0) * math.floor(n / 7)
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

-- wrk counts only status >= 400 as an error; the bench wants exactly 200.
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get('non200') or 0) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"rps":%.1f,"requests":%d,"duration_us":%d,"non200":%d,"status_errors":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests / (summary.duration / 1e6), summary.requests, summary.duration, bad,
    e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
