"""Runs every scenario in benchmarks/scenarios/ (file name order) against gunicorn direct, nginx and the sidecar.

A scenario is one file with TITLE and run(ctx); see context.Context for what ctx offers.
"""
import argparse
import datetime
import importlib.util
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import djangoapp, procs, report
from .context import Context

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
NGINX_TEMPLATE_CANDIDATES = [BENCH / "nginx-sidecar.conf", Path("/work/shared/bench/nginx-sidecar.conf")]
# nginx's reference limit is 10m; the 20 MiB upload scenario needs both proxies to accept it.
MAX_BODY = "32m"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short durations, one repetition (for iterating)")
    p.add_argument("--sidecar-bin", required=True, help="the published sidecar executable")
    p.add_argument("--build-kind", default="Native AOT", help="how the sidecar was built (shown in the results)")
    p.add_argument("--only", default="", help="comma-separated scenario file prefixes to run (e.g. a,c)")
    p.add_argument("--variant", action="append", default=[],
                   help="extra sidecar column NAME:KEY=VALUE[,KEY=VALUE...]; keys are SIDECAR_*/DOTNET_* env vars or BIN=path; "
                        "{socket} expands to gunicorn's unix socket")
    p.add_argument("--readme", action="store_true", help="copy the table into README.md between the benchmark markers")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs) after the run")
    p.add_argument("--serve", action="store_true",
                   help="start everything, print the ports and pids, and wait (for profiling by hand); Ctrl-C stops")
    return p.parse_args(argv)


def load_scenarios(only):
    wanted = [w for w in only.split(",") if w]
    scenarios = []
    for path in sorted((BENCH / "scenarios").glob("*.py")):
        if wanted and not any(path.name.startswith(w) for w in wanted):
            continue
        spec = importlib.util.spec_from_file_location(f"scenario_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        scenarios.append(module)
    return scenarios


def machine():
    cpu_model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                      if l.startswith("model name")), platform.processor())
    mem_kib = int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")))
    return {"hostname": platform.node(), "cpus": os.cpu_count(), "cpu_model": cpu_model, "mem_gib": round(mem_kib / 1024 / 1024),
            "kernel": platform.release(), "loadavg_start": Path("/proc/loadavg").read_text().split()[0]}


def git(*args):
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def sidecar_serves_static():
    catalog = (REPO / "src" / "Configuration" / "SettingsCatalog.cs").read_text()
    return '"StaticRoot"' in catalog


class Spawner:
    """Starts fresh proxies on new ports: the startup scenario and variants use it."""

    def __init__(self, work, app, gunicorn, template, binary, static):
        self.work, self.app, self.gunicorn, self.template, self.binary, self.static = work, app, gunicorn, template, binary, static
        self.socket = work / "gunicorn.sock"
        self.counter = 0

    def nginx(self, name=None):
        self.counter += 1
        return procs.start_nginx(self.work, name or f"nginx-{self.counter}", self.template, procs.free_port(),
                                 f"127.0.0.1:{self.gunicorn.port}", self.app["static_root"], MAX_BODY)

    def sidecar_env(self, extra):
        env = {"SIDECAR_UPSTREAM": f"http://127.0.0.1:{self.gunicorn.port}", "SIDECAR_MAX_BODY_SIZE": MAX_BODY}
        if self.static:
            env.update({"SIDECAR_STATIC_ROOT": str(self.app["static_root"]), "SIDECAR_STATIC_URL": "/static/"})
        env.update({k: v.replace("{socket}", str(self.socket)) for k, v in extra.items()})
        return env

    def sidecar(self, like=None, name=None, extra=None):
        """A fresh sidecar; like= copies an existing sidecar service's variant settings."""
        self.counter += 1
        extra = dict(extra or (like.variant_env if like else {}))
        binary = Path(extra.pop("BIN", self.binary))
        service = procs.start_sidecar(self.work, name or f"{like.name if like else 'sidecar'}-{self.counter}", binary,
                                      procs.free_port(), self.sidecar_env(extra))
        service.variant_env = dict(like.variant_env) if like else {}
        service.serves_static = self.static
        return service


def parse_variant(text):
    name, _, settings = text.partition(":")
    env = {}
    for item in filter(None, settings.split(",")):
        key, _, value = item.partition("=")
        env[key.strip()] = value.strip()
    return name, env


def main(argv):
    args = parse_args(argv)
    template = next(p for p in NGINX_TEMPLATE_CANDIDATES if p.exists())
    work = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    os.chmod(work, 0o755)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    started = time.monotonic()
    stamp = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "commit": git("rev-parse", "--short=12", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "src")),
             "mode": "quick" if args.quick else "full", "sidecar_build": args.build_kind, "machine": machine()}
    try:
        print(f"work dir {work}")
        app = djangoapp.create(work)
        gunicorn = procs.start_gunicorn(work, app, procs.free_port(), work / "gunicorn.sock")
        gunicorn.label = "gunicorn direct (WhiteNoise for static)"
        static = sidecar_serves_static()
        spawn = Spawner(work, app, gunicorn, template, Path(args.sidecar_bin), static)
        nginx = spawn.nginx("nginx")
        sidecar = spawn.sidecar(name="sidecar", extra={})
        proxies = [nginx, sidecar]
        for text in args.variant:
            name, env = parse_variant(text)
            variant = spawn.sidecar(name=name, extra=env)
            variant.variant_env = env
            proxies.append(variant)
        ctx = Context(args.quick, work, app, gunicorn, proxies, spawn)
        if args.serve:
            for service in [gunicorn, *proxies]:
                print(f"{service.name}: http://127.0.0.1:{service.port}  pids {service.pids()}  log {service.log_path}")
            print(f"static: {app['static_urls']}  unix socket: {spawn.socket}")
            sys.stdout.flush()
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
            return 0
        if not static:
            ctx.note("the sidecar has no static settings on this commit: its static columns are n/a")
        ctx.note(f"nginx: the reference config ({template.name}) with client_max_body_size {MAX_BODY} so the 20 MiB upload fits; "
                 f"sidecar: defaults (access log on, to a file) with SIDECAR_MAX_BODY_SIZE={MAX_BODY}")
        for service in proxies:
            service.idle_rss_kib = procs.memory_kib(service.pids(), "VmRSS")
        for scenario in load_scenarios(args.only):
            print(f"== {scenario.TITLE}")
            scenario.run(ctx)
        for service in proxies:
            if service.process.poll() is not None:
                ctx.note(f"{service.name} exited during the run with {service.process.returncode}")
        ctx.record("whole run", "peak RSS (VmHWM, all processes)", "MB", "lower",
                   {gunicorn.name: None, **{p.name: procs.memory_kib(p.pids(), "VmHWM") / 1024 for p in proxies}}, "{:.1f}")
    finally:
        procs.stop_all()
    stamp["machine"]["loadavg_end"] = Path("/proc/loadavg").read_text().split()[0]
    stamp["seconds"] = round(time.monotonic() - started)
    columns = [(gunicorn.name, "gunicorn direct"), *((p.name, p.name) for p in proxies)]
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    if args.quick or args.only:
        basename = "last-quick" if args.quick else "last-partial"
        # Quick and partial runs are for iterating: written next to the real results but ignored by git.
        md = report.write(results, basename, stamp, columns, ctx.rows, ctx.notes, suffix=".tmp")
    else:
        basename = f"{stamp['date'][:16].replace(':', '').replace('-', '')}-{stamp['commit'][:7]}"
        md = report.write(results, basename, stamp, columns, ctx.rows, ctx.notes)
        report.write(results, "latest", stamp, columns, ctx.rows, ctx.notes)
        if args.readme:
            report.update_readme(REPO / "README.md", md)
    print()
    print(md)
    print(f"results: {results}/{basename}.(md|json){'.tmp' if args.quick or args.only else ''}, {stamp['seconds']} s")
    if args.keep:
        print(f"logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
