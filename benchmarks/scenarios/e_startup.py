"""(e) Time to ready (spawn until the first proxied 200) and idle RSS, on fresh instances."""
import time

from harness import load, procs

TITLE = "e. time to ready and idle RSS (fresh instances)"


def run(ctx):
    kinds = [("nginx", ctx.spawn.nginx), *((p.name, (lambda p=p: ctx.spawn.sidecar(p))) for p in ctx.proxies[1:])]
    ready, idle = {name: [] for name, _ in kinds}, {name: [] for name, _ in kinds}
    for rep in range(ctx.reps(3, 1)):
        for name, start in kinds:
            service = start()
            try:
                time.sleep(1)
                ready[name].append(service.ready_seconds * 1000)
                idle[name].append(procs.memory_kib(service.pids(), "VmRSS") / 1024)
            finally:
                service.stop()
    values = lambda d: {ctx.gunicorn.name: None, **{n: load.median(v) for n, v in d.items()}}
    ctx.record("e. start-up", "time to ready (first proxied 200)", "ms", "lower", values(ready), "{:.0f}")
    ctx.record("e. start-up", "idle RSS", "MB", "lower", values(idle), "{:.1f}")
