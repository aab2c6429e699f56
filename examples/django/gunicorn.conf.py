"""gunicorn settings for running behind the Sidecar reverse proxy in the same Pod."""
import os

wsgi_app = "demo.wsgi:application"

# Loopback only: nothing but the sidecar in the same Pod can reach gunicorn, so every request has
# been buffered and checked by the sidecar first.
bind = "127.0.0.1:8000"

# Sync workers: one request per worker, which is safe only because the sidecar buffers slow clients
# in both directions. WEB_CONCURRENCY is the conventional knob (set it in the Deployment).
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))

# A request running longer than this gets its worker killed; the sidecar's UpstreamTimeout (60s) is
# longer, so the client sees gunicorn's 502/504 handling rather than a proxy timeout racing it.
timeout = 30

# After SIGTERM, in-flight requests get this long. terminationGracePeriodSeconds in the Deployment
# covers the preStop sleep + this + the sidecar's drain.
graceful_timeout = 20

# Recycle workers now and then so slow leaks in application code never grow without bound.
max_requests = 1000
max_requests_jitter = 100

# Only the sidecar (loopback) may set X-Forwarded-*; gunicorn's default, spelled out.
forwarded_allow_ips = "127.0.0.1,::1"

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
