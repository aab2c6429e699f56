"""(a) Small proxied GET: throughput, latency, proxy CPU per request and peak RSS; gunicorn direct is the ceiling."""
from harness import load, procs

TITLE = "a. small proxied GET /hello (wrk -t2 -c32)"


def run(ctx):
    services = [ctx.gunicorn, *ctx.proxies]
    results = ctx.wrk_alternate(services, "/hello", ctx.duration(8), ctx.reps(3))
    med = lambda name, f: load.median([f(r) for r in results[name]])
    section = "a. GET /hello"
    ctx.record(section, "req/s", "req/s", "higher", {s.name: med(s.name, lambda r: r.rps) for s in services})
    ctx.record(section, "p50 latency", "ms", "lower", {s.name: med(s.name, lambda r: r["p50_us"] / 1000) for s in services}, "{:.2f}")
    ctx.record(section, "p99 latency", "ms", "lower", {s.name: med(s.name, lambda r: r["p99_us"] / 1000) for s in services}, "{:.2f}")
    ctx.record(section, "proxy CPU per request", "µs", "lower",
               {s.name: (None if s is ctx.gunicorn else med(s.name, lambda r: r.cpu_us_per_request)) for s in services}, "{:.0f}")
    ctx.record(section, "errors", "count", "lower", {s.name: sum(r.errors for r in results[s.name]) for s in services})
    # The memory target is "peak RSS under the standard load": this load, read right after it.
    ctx.record(section, "peak RSS after this load (VmHWM)", "MB", "lower",
               {s.name: (None if s is ctx.gunicorn else procs.memory_kib(s.pids(), "VmHWM") / 1024) for s in services}, "{:.1f}")
