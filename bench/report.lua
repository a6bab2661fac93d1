-- wrk's done() hook for bench/run.sh: one machine-readable line
--   BENCH requests=N seconds=S rps=R p50_ms=A p99_ms=B max_ms=C non2xx=N sockerr=N
-- (latencies are wrk's, in microseconds, printed in milliseconds).
done = function(summary, latency, requests)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d sockerr=%d\n",
    summary.requests, s, summary.requests / s,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
