"""(c) Static files (collectstatic output) as br, gzip and identity: nginx, WhiteNoise in gunicorn, the sidecar."""
import urllib.request

from harness import load

TITLE = "c. static 4 KB and 500 KB files, br / gzip / identity (wrk -t2 -c32)"

ENCODINGS = [("br", "br, gzip"), ("gzip", "gzip"), ("identity", None)]


def _served_encoding(service, path, accept):
    request = urllib.request.Request(service.url(path), headers={"Accept-Encoding": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as r:
        body = r.read()
        return r.status, r.headers.get("Content-Encoding") or "identity", len(body)


def run(ctx):
    # The sidecar serves static files only when it has the static settings; otherwise the request would just be
    # proxied to WhiteNoise, which is not what this row compares, so those columns say n/a.
    static_proxies = [p for p in ctx.proxies if getattr(p, "serves_static", True)]
    services = [ctx.gunicorn, *static_proxies]
    for size_name, label in (("small", "4 KB"), ("large", "500 KB")):
        path = ctx.app["static_urls"][size_name]
        for encoding, accept in ENCODINGS:
            for service in services:
                status, served, _ = _served_encoding(service, path, accept)
                if status != 200 or served != encoding:
                    ctx.note(f"{service.name} answered {path} (Accept-Encoding: {accept}) with {status} {served}, expected 200 {encoding}")
            results = ctx.wrk_alternate(services, path, ctx.duration(5), ctx.reps(2), accept=accept)
            med = lambda name, f: load.median([f(r) for r in results[name]])
            section = f"c. static {label} {encoding}"
            names = [ctx.gunicorn.name, *(p.name for p in ctx.proxies)]
            value = lambda name, f: med(name, f) if name in results else None
            ctx.record(section, "req/s", "req/s", "higher", {n: value(n, lambda r: r.rps) for n in names})
            ctx.record(section, "p99 latency", "ms", "lower", {n: value(n, lambda r: r["p99_us"] / 1000) for n in names}, "{:.2f}")
            ctx.record(section, "CPU per request", "µs", "lower", {n: value(n, lambda r: r.cpu_us_per_request) for n in names}, "{:.0f}")
