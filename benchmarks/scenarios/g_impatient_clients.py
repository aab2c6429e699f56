"""(g) Overload with impatient clients: goodput when requests outnumber workers and clients give up.

40 clients each send GET /sleep?ms=100 on a new connection, give up after 1 s and send the next one at once,
against 2 sync workers (capacity 20 req/s, so every request would wait about 2 s). nginx and the sidecar
without a queue forward everything into gunicorn's listen backlog, where requests whose clients already left
are still served in turn, so the workers spend their time on answers nobody reads. The sidecar with a queue
(UpstreamConcurrency=2, QueueTimeout=500ms, below the clients' 1 s) drops requests whose client left, answers
503 + Retry-After to those it cannot start in time, and so only starts requests that can still be answered.
Goodput = answers with status 200 received within the client's 1 s, per second.
"""
import threading
import time

from harness import load, procs

TITLE = "g. overload: 40 clients that give up after 1 s, 2 workers, /sleep?ms=100"

CLIENTS = 40
CLIENT_TIMEOUT = 1.0
PATH = "/sleep?ms=100"


def _impatient(service, window):
    began = time.monotonic()
    clients = [load.Probe(service, PATH, interval=0, timeout=CLIENT_TIMEOUT).start() for _ in range(CLIENTS)]
    time.sleep(window)
    # Stopped together: one by one, the clients still running would keep loading the target meanwhile.
    stoppers = [threading.Thread(target=client.stop) for client in clients]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
    elapsed = time.monotonic() - began
    samples = [s for c in clients for s in c.samples]
    answered = sum(1 for ok, _ in samples if ok)
    return {"goodput": answered / elapsed, "success": 100.0 * answered / len(samples) if samples else 0.0}


def run(ctx):
    queued = ctx.spawn.sidecar(name="sidecar-queue-500ms", extra={"SIDECAR_UPSTREAM_CONCURRENCY": "2",
                                                                  "SIDECAR_QUEUE_TIMEOUT": "500ms"})
    window = ctx.duration(10, 4)

    def measure(service):
        result = _impatient(service, window)
        # Abandoned requests may still sit in gunicorn's backlog; the next target must find the workers idle.
        procs.wait_until(ctx.gunicorn.url("/hello"), 120, interval=0.5)
        return result

    try:
        services = [ctx.nginx, ctx.sidecar, queued]
        results = ctx.alternate(services, ctx.reps(2, 1), measure, settle=1)
        med = lambda name, key: load.median([r[key] for r in results[name]])
        for label, sidecar in (("without queue", ctx.sidecar), ("with queue (QueueTimeout=500ms)", queued)):
            section = f"g. 40 impatient clients, sidecar {label}"
            pick = lambda key: {ctx.gunicorn.name: None, ctx.nginx.name: med(ctx.nginx.name, key), ctx.sidecar.name: med(sidecar.name, key)}
            ctx.record(section, "goodput (200 within 1 s)", "req/s", "higher", pick("goodput"), "{:.1f}")
            ctx.record(section, "requests answered in time", "%", "higher", pick("success"), "{:.0f}")
    finally:
        queued.stop()
