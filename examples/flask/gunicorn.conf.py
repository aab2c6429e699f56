"""gunicorn settings for the Flask example behind the Sidecar reverse proxy in the same Pod."""
import os

wsgi_app = "notes:create_app()"

# Loopback only: nothing but the sidecar in the same Pod can reach gunicorn.
bind = "127.0.0.1:8000"

# Sync workers are safe because the sidecar buffers slow clients in both directions.
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 30
graceful_timeout = 20
max_requests = 1000
max_requests_jitter = 100

# Only the sidecar (loopback) may set X-Forwarded-*; ProxyFix in the app trusts exactly one hop.
forwarded_allow_ips = "127.0.0.1,::1"

accesslog = "-"
errorlog = "-"
