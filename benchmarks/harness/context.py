"""What a scenario gets: the running services, timing knobs, side-by-side runners and a place to record rows."""
import sys
import time

from . import load


class Row(dict):
    """One line of the results table: a metric measured on several targets."""


class Context:
    def __init__(self, quick, work, app, gunicorn, proxies, spawn, log=print):
        self.quick = quick
        self.work = work
        self.app = app              # the Django app: static_urls, static_root, ...
        self.gunicorn = gunicorn    # gunicorn direct: the ceiling for proxied paths, WhiteNoise for static
        self.proxies = proxies      # nginx, sidecar, then any sidecar variants, in table order
        self.spawn = spawn          # spawn.sidecar(name, env) / spawn.nginx(name) for fresh instances
        self.rows = []
        self.notes = []
        self.log = log

    # --- knobs -------------------------------------------------------------------------------------------
    def duration(self, full, quick=2):
        return quick if self.quick else full

    def reps(self, full=3, quick=1):
        return quick if self.quick else full

    @property
    def nginx(self):
        return self.proxies[0]

    @property
    def sidecar(self):
        return self.proxies[1]

    def service(self, name):
        return next(s for s in [self.gunicorn, *self.proxies] if s.name == name)

    # --- running -----------------------------------------------------------------------------------------
    def alternate(self, services, reps, measure, settle=0.3):
        """Calls measure(service) reps times per service, rotating the order each round so drift on a shared
        machine hits every target alike. Returns {name: [results]}."""
        results = {s.name: [] for s in services}
        for rep in range(reps):
            order = services[rep % len(services):] + services[:rep % len(services)]
            for service in order:
                results[service.name].append(measure(service))
                time.sleep(settle)
        return results

    def wrk_alternate(self, services, path, duration, reps, warmup=True, **wrk_args):
        if warmup:
            for service in services:
                load.wrk(service, path, 1, **wrk_args)
        return self.alternate(services, reps, lambda s: load.wrk(s, path, duration, **wrk_args))

    # --- recording ---------------------------------------------------------------------------------------
    def record(self, section, metric, unit, better, values, fmt="{:,.0f}"):
        """values: {service name: number or None (n/a)}. better: 'higher' or 'lower' (drives the ratio's goal)."""
        row = Row(section=section, metric=metric, unit=unit, better=better, values=values, fmt=fmt)
        nginx, sidecar = values.get(self.nginx.name), values.get(self.sidecar.name)
        row["ratio"] = (sidecar / nginx) if nginx and sidecar is not None else None
        self.rows.append(row)
        shown = ", ".join(f"{k}={fmt.format(v) if v is not None else 'n/a'}" for k, v in values.items())
        ratio = f"  sidecar/nginx={row['ratio']:.2f}" if row["ratio"] is not None else ""
        self.log(f"  {section} | {metric} ({unit}): {shown}{ratio}")
        sys.stdout.flush()
        return row

    def note(self, text):
        self.notes.append(text)
        self.log(f"  note: {text}")
