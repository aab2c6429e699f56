"""(b) Large bodies through the proxies: a 1 MiB response, 1 MiB and 20 MiB uploads."""
from harness import load

TITLE = "b. 1 MiB response, 1 MiB and 20 MiB uploads"

MIB = 1024 * 1024


def _body(ctx, mib):
    path = ctx.work / f"body-{mib}mib.bin"
    if not path.exists():
        path.write_bytes(bytes(range(256)) * (4096 * mib))
    return path


def run(ctx):
    services = [ctx.gunicorn, *ctx.proxies]
    cases = [
        ("GET /big (1 MiB response)", "/big", dict(connections=8), 1),
        ("POST /upload 1 MiB", "/upload", dict(connections=8, body_file=_body(ctx, 1)), 1),
        ("POST /upload 20 MiB", "/upload", dict(connections=4, body_file=_body(ctx, 20), timeout="20s"), 20),
    ]
    for label, path, args, mib in cases:
        results = ctx.wrk_alternate(services, path, ctx.duration(6), ctx.reps(3), **args)
        med = lambda name, f: load.median([f(r) for r in results[name]])
        section = f"b. {label}"
        ctx.record(section, "req/s", "req/s", "higher", {s.name: med(s.name, lambda r: r.rps) for s in services}, "{:,.1f}")
        ctx.record(section, "p99 latency", "ms", "lower", {s.name: med(s.name, lambda r: r["p99_us"] / 1000) for s in services}, "{:.1f}")
        ctx.record(section, "proxy CPU per MiB", "µs", "lower",
                   {s.name: (None if s is ctx.gunicorn else med(s.name, lambda r: r.cpu_us_per_request / mib if r.cpu_us_per_request else None))
                    for s in services}, "{:.0f}")
        ctx.record(section, "errors", "count", "lower", {s.name: sum(r.errors for r in results[s.name]) for s in services})
