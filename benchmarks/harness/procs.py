"""Starting and measuring the programs under test: gunicorn, nginx and the sidecar.

CPU and memory come from /proc, summed over every process of a target (nginx master + workers,
gunicorn master + workers), the way the reference numbers were taken.
"""
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
_started = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list:
    """Direct children of pid (nginx workers, gunicorn workers)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def tree(pid: int) -> list:
    return [pid] + children(pid)


def cpu_seconds(pids) -> float:
    """utime + stime of the given processes (their own, not their reaped children's)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def memory_kib(pids, field: str) -> int:
    """Sum of a /proc/PID/status field (VmRSS, VmHWM) in KiB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            r.read()
            return r.status == 200
    except Exception:
        return False


def wait_until(url: str, timeout: float, process=None, interval: float = 0.005) -> float:
    """Seconds until url answers 200; raises if it never does or the process dies first."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        if http_ok(url, timeout=0.5):
            return time.monotonic() - start
        time.sleep(interval)
    raise RuntimeError(f"{url} did not answer 200 within {timeout}s")


class Service:
    """One running program under test (a process tree), with the URL that reaches it."""

    def __init__(self, name, kind, process, port, log_path, stop=None):
        self.name = name
        self.kind = kind
        self.process = process
        self.port = port
        self.log_path = log_path
        self._stop = stop
        self.ready_seconds = None
        self.idle_rss_kib = None
        _started.append(self)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def pids(self) -> list:
        return tree(self.process.pid)

    def stop(self):
        if self.process.poll() is None:
            if self._stop:
                self._stop()
            else:
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self in _started:
            _started.remove(self)


def stop_all():
    for service in list(reversed(_started)):
        try:
            service.stop()
        except Exception as e:  # keep stopping the others
            print(f"warning: stopping {service.name}: {e}")


def _spawn(args, log_path, env=None, cwd=None):
    log = open(log_path, "ab")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def start_gunicorn(work: Path, app: dict, port: int, socket_path: Path, workers: int = 2) -> Service:
    args = ["/usr/bin/gunicorn", f"--bind=127.0.0.1:{port}", f"--bind=unix:{socket_path}", "--workers", str(workers),
            "--worker-class", "sync", "--timeout", "30", "--chdir", str(app["project_dir"]), app["module"]]
    process = _spawn(args, work / "gunicorn.log", cwd=app["project_dir"])
    service = Service("gunicorn", "gunicorn", process, port, work / "gunicorn.log")
    service.ready_seconds = wait_until(service.url("/hello"), 30, process)
    deadline = time.monotonic() + 10
    while not socket_path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.chmod(socket_path, 0o777)  # nginx workers run as nobody
    return service


def start_nginx(work: Path, name: str, template: Path, port: int, upstream: str, static_root: Path,
                max_body: str = None) -> Service:
    """The reference config rendered with envsubst, exactly as shared/bench/README.md does it."""
    nginx_dir = work / name
    nginx_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(nginx_dir, 0o755)
    env = dict(os.environ, WORKDIR=str(nginx_dir), STATIC_ROOT=str(static_root), PORT=str(port), UPSTREAM=upstream)
    rendered = subprocess.run(["envsubst", "${WORKDIR} ${STATIC_ROOT} ${PORT} ${UPSTREAM}"], input=template.read_text(),
                              env=env, capture_output=True, text=True, check=True).stdout
    if max_body:
        rendered = rendered.replace("client_max_body_size 10m;", f"client_max_body_size {max_body};")
    conf = nginx_dir / "nginx.conf"
    conf.write_text(rendered)
    args = ["/usr/sbin/nginx", "-c", str(conf), "-e", str(nginx_dir / "error.log"), "-g", "daemon off;"]
    process = _spawn(args, nginx_dir / "stdout.log")

    def quit_nginx():
        process.send_signal(signal.SIGQUIT)

    service = Service(name, "nginx", process, port, nginx_dir / "error.log", stop=quit_nginx)
    service.ready_seconds = wait_until(service.url("/hello"), 20, process)
    return service


def image_runtime_env() -> dict:
    """The DOTNET_* settings the image sets (Dockerfile ENV), so the benchmark runs the binary as the image does."""
    dockerfile = Path(__file__).resolve().parents[2] / "Dockerfile"
    text = dockerfile.read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line[4:].split():
                key, _, value = pair.partition("=")
                if key.startswith("DOTNET_"):
                    found[key] = value
    return found


def start_sidecar(work: Path, name: str, binary: Path, port: int, env: dict) -> Service:
    admin = free_port()
    spool = work / name / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    full_env.update(image_runtime_env())
    full_env.update({"SIDECAR_PORT": str(port), "SIDECAR_ADMIN_PORT": str(admin), "SIDECAR_TEMP_DIR": str(spool),
                     "SIDECAR_CONFIG": str(work / name / "sidecar.json")})
    (work / name / "sidecar.json").write_text("{}")
    full_env.update(env)
    log_path = work / name / "stdout.log"
    process = _spawn([str(binary)], log_path, env=full_env)
    service = Service(name, "sidecar", process, port, log_path)
    service.admin_port = admin
    service.ready_seconds = wait_until(service.url("/hello"), 30, process)
    return service
