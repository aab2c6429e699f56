"""(f) Admission queue: p99 latency and errors with 2x and 5x as many clients as gunicorn has workers.

gunicorn runs 2 sync workers and every request hits /sleep?ms=20 (a view that holds its worker 20 ms, like a
database query), so 4 and 10 wrk connections mean 2x and 5x more requests than workers. Each load runs against
gunicorn direct, nginx (the reference config, which forwards the excess into gunicorn's backlog), the sidecar
without a queue (the same), and the sidecar with UpstreamConcurrency=2 (the excess waits in the sidecar's FIFO
queue). The "with queue" rows put the queued sidecar in the sidecar column, so sidecar/nginx compares it with nginx.
"""
from harness import load

TITLE = "f. admission queue: p99 and errors at 2x and 5x gunicorn's workers (/sleep?ms=20)"

WORKERS = 2
PATH = "/sleep?ms=20"


def run(ctx):
    queued = ctx.spawn.sidecar(name="sidecar-queue", extra={"SIDECAR_UPSTREAM_CONCURRENCY": str(WORKERS)})
    try:
        services = [ctx.gunicorn, ctx.nginx, ctx.sidecar, queued]
        for factor in (2, 5):
            connections = factor * WORKERS
            results = ctx.wrk_alternate(services, PATH, ctx.duration(8), ctx.reps(3),
                                        connections=connections, threads=min(2, connections))
            p99 = {s.name: load.median([r["p99_us"] / 1000 for r in results[s.name]]) for s in services}
            errors = {s.name: sum(r.errors for r in results[s.name]) for s in services}
            rps = {s.name: load.median([r.rps for r in results[s.name]]) for s in services}
            for label, sidecar in (("without queue", ctx.sidecar), (f"with queue (UpstreamConcurrency={WORKERS})", queued)):
                section = f"f. {factor}x workers (wrk -c{connections}), sidecar {label}"
                pick = lambda values: {ctx.gunicorn.name: values[ctx.gunicorn.name], ctx.nginx.name: values[ctx.nginx.name],
                                       ctx.sidecar.name: values[sidecar.name]}
                ctx.record(section, "p99 latency", "ms", "lower", pick(p99), "{:.1f}")
                ctx.record(section, "errors", "count", "lower", pick(errors))
                ctx.record(section, "req/s", "req/s", "higher", pick(rps))
    finally:
        queued.stop()
