-- post.lua - wrk script: POST the signed issues.opened delivery in BODY_FILE with GitHub's
-- headers; every request gets a fresh X-GitHub-Delivery so ingest really spools each one.
local body, sig
local counter = 0
local prefix = tostring(os.time())
local nthreads = 0
-- each wrk thread gets its own number, so delivery ids never collide across threads
function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end
function init(args)
  local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
  body = f:read("*a")
  f:close()
  sig = os.getenv("BODY_SIG")
  prefix = prefix .. "-" .. tostring(tid)
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/api/github/webhooks", {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/044aadd",
    ["X-GitHub-Event"] = "issues",
    ["X-GitHub-Delivery"] = prefix .. "-" .. counter,
    ["X-GitHub-Hook-ID"] = "292430182",
    ["X-Hub-Signature-256"] = sig,
  }, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.errors.status))
end
