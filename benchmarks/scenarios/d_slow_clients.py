"""(d) Slow clients (slowhttptest) while a fast probe checks that everyone else still gets served.

The commands are those of shared/bench/README.md with shorter durations; the probe is a plain GET /hello
every 50 ms with a 5 s timeout, started a few seconds into the attack.
"""
import subprocess
import time

from harness import load, procs

TITLE = "d. slow clients: fast-probe success and p99 during each attack"

ATTACKS = [
    ("slow POST (slowhttptest -B)", ["-c", "200", "-B", "-i", "5", "-r", "100", "-s", "8192", "-t", "POST", "-x", "10", "-p", "3"], "/upload"),
    ("slow POST at ~400 B/s", ["-c", "200", "-B", "-i", "1", "-r", "100", "-s", "131072", "-t", "POST", "-x", "400", "-p", "3"], "/upload"),
    ("slowloris (slowhttptest -H)", ["-c", "500", "-H", "-i", "10", "-r", "200", "-t", "GET", "-x", "24", "-p", "3"], "/hello"),
    ("slow read of 8 MiB (slowhttptest -X)", ["-c", "200", "-X", "-r", "100", "-w", "10", "-y", "20", "-n", "5", "-z", "32", "-k", "3", "-p", "3"], "/big?mib=8"),
]


def _attack(ctx, service, args, path, lead, window):
    """Runs one attack; returns the probe and the highest resident memory seen while it lasted, in MB."""
    log = open(ctx.work / f"slowhttptest-{service.name}.log", "ab")
    attacker = subprocess.Popen(["slowhttptest", *args, "-l", str(int(lead + window + 2)), "-u", service.url(path)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    peak_kib = 0
    try:
        time.sleep(lead)
        probe = load.Probe(service).start()
        # Sampled, not read from VmHWM: resetting the high-water mark would spoil the whole run's peak.
        deadline = time.monotonic() + window
        while time.monotonic() < deadline:
            peak_kib = max(peak_kib, procs.memory_kib(service.pids(), "VmRSS"))
            time.sleep(0.25)
        probe.stop()
    finally:
        attacker.terminate()
        attacker.wait()
        log.close()
    # Let the target recover (gunicorn's workers may still be stuck) before the next measurement.
    procs.wait_until(service.url("/hello"), 60, interval=0.2)
    return probe, peak_kib / 1024


def run(ctx):
    services = [ctx.gunicorn, ctx.nginx, ctx.sidecar]
    lead, window = (3, 6) if ctx.quick else (4, 12)
    for label, args, path in ATTACKS:
        results = ctx.alternate(services, 1, lambda s: _attack(ctx, s, args, path, lead, window), settle=1)
        section = f"d. {label}"
        ctx.record(section, "probe success", "%", "higher", {s.name: results[s.name][0][0].success for s in services}, "{:.0f}")
        ctx.record(section, "probe p99", "ms", "lower", {s.name: results[s.name][0][0].p99_ms for s in services}, "{:.1f}")
        ctx.record(section, "proxy RSS during the attack (sampled peak)", "MB", "lower",
                   {s.name: (None if s is ctx.gunicorn else results[s.name][0][1]) for s in services}, "{:.1f}")
