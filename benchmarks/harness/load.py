"""Load generators: wrk for throughput and latency, slowhttptest for slow clients, and the fast probe."""
import http.client
import json
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

from . import procs

LUA = Path(__file__).resolve().parent.parent / "lua" / "report.lua"


class WrkResult(dict):
    """wrk's numbers plus the target's CPU seconds spent while wrk ran."""

    @property
    def rps(self):
        return self["requests"] / (self["duration_us"] / 1e6)

    @property
    def errors(self):
        return sum(self[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_status", "errors_timeout"))

    @property
    def cpu_us_per_request(self):
        return self["cpu_seconds"] * 1e6 / self["requests"] if self["requests"] else None


def wrk(service, path, duration, connections=32, threads=2, accept=None, body_file=None, timeout="5s") -> WrkResult:
    env = dict(os.environ, WRK_BODY_FILE=str(body_file or ""), WRK_ACCEPT_ENCODING=accept or "")
    args = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", f"--timeout={timeout}", "-s", str(LUA),
            service.url(path)]
    pids = service.pids()
    cpu_before = procs.cpu_seconds(pids)
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    cpu_after = procs.cpu_seconds(service.pids())
    line = next((l for l in out.stdout.splitlines() if l.startswith("JSON:")), None)
    if line is None:
        raise RuntimeError(f"wrk against {service.name}{path} printed no result:\n{out.stdout}\n{out.stderr}")
    result = WrkResult(json.loads(line[5:]))
    result["cpu_seconds"] = cpu_after - cpu_before
    return result


class Probe:
    """A plain GET every `interval` seconds on a new connection, with a timeout; records status and latency."""

    def __init__(self, service, path="/hello", interval=0.05, timeout=5.0):
        self.service, self.path, self.interval, self.timeout = service, path, interval, timeout
        self.samples = []  # (ok, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            began = time.monotonic()
            ok = False
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.service.port, timeout=self.timeout)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                conn.close()
            except Exception:
                ok = False
            elapsed = time.monotonic() - began
            self.samples.append((ok, elapsed if ok else max(elapsed, self.timeout)))
            self._stop.wait(max(0.0, self.interval - elapsed))

    @property
    def success(self):
        return 100.0 * sum(1 for ok, _ in self.samples if ok) / len(self.samples) if self.samples else 0.0

    @property
    def p99_ms(self):
        """p99 over all probes, a failed probe counting as the timeout."""
        if not self.samples:
            return None
        values = sorted(s for _, s in self.samples)
        return 1000 * values[min(len(values) - 1, int(round(0.99 * (len(values) - 1))))]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None
