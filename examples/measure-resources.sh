#!/usr/bin/env bash
# Measures what the Pod in deploy/ needs, to size its requests and limits: resident memory and CPU of
# the sidecar and of gunicorn (3 sync workers, the Django example) idle, under 64 connections of dynamic
# pages, under 64 connections of a static file, and during 16 concurrent 12 MB uploads. Loopback only.
#
#   SIDECAR_BIN=/path/to/native/sidecar examples/measure-resources.sh
#
# SIDECAR_BIN should be the Native AOT binary the image ships (dotnet publish src -c Release -r linux-x64);
# without it the JIT build runs under `dotnet`, which needs more memory. Needs wrk, curl, gunicorn and
# Debian's python3-django/python3-whitenoise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d -t sidecar-measure.XXXXXX)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
# Ports the kernel says are free now; a random pick in the ephemeral range could collide with a connection.
read -r port admin app < <(python3 -c 'import socket; s=[socket.socket() for _ in range(3)]; [x.bind(("127.0.0.1", 0)) for x in s]; print(*[x.getsockname()[1] for x in s])')
host="sidecar-demo.example.com"

if [ -n "${SIDECAR_BIN:-}" ]; then
  sidecar=("$SIDECAR_BIN")
else
  dotnet build "$root/src" -c Release -o "$work/build" -v quiet -nologo >/dev/null
  sidecar=(dotnet "$work/build/sidecar.dll")
fi

cd "$root/examples/django"
export DJANGO_SECRET_KEY=measure DJANGO_STATIC_ROOT="$work/static" DJANGO_DB_NAME="$work/db.sqlite3"
export DJANGO_ALLOWED_HOSTS="$host" DJANGO_HTTPS=on WEB_CONCURRENCY=3
/usr/bin/python3 manage.py collectstatic --noinput -v 0
/usr/bin/python3 manage.py migrate --noinput -v 0
/usr/bin/python3 -m gunicorn --config gunicorn.conf.py --bind "127.0.0.1:$app" >/dev/null 2>&1 &
gunicorn=$!; pids+=($gunicorn)
mkdir -p "$work/spool" "$work/tmp"
# The runtime settings the image sets (the Dockerfile's DOTNET_* ENV: GC budgets and regions), so this
# measures what the Pod runs.
mapfile -t image_env < <(sed -n '/^ENV /,/[^\\]$/p' "$root/Dockerfile" | grep -o 'DOTNET_[A-Za-z0-9_]*=[^ \\]*')
# The base Deployment's sidecar environment, with ports and paths of this machine.
env "${image_env[@]}" SIDECAR_PORT=$port SIDECAR_ADMIN_PORT=$admin SIDECAR_UPSTREAM="http://127.0.0.1:$app" \
SIDECAR_CONFIG="$root/deploy/base/sidecar.json" SIDECAR_CONFIG_POLL_INTERVAL=0 SIDECAR_TEMP_DIR="$work/spool" \
SIDECAR_SPOOL_QUOTA=900m SIDECAR_STATIC_ROOT="$work/static" SIDECAR_STATIC_URL=/static/ \
SIDECAR_UPSTREAM_CONCURRENCY=3 SIDECAR_DRAIN_TIMEOUT=30s SIDECAR_ACCESS_LOG=off TMPDIR="$work/tmp" \
  "${sidecar[@]}" >/dev/null 2>&1 &
proxy=$!; pids+=($proxy)
for _ in $(seq 100); do curl -fs -o /dev/null "localhost:$admin/healthz/ready" && break; sleep 0.2; done

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
tree_rss() { local total=0 p; for p in "$1" $(pgrep -P "$1"); do total=$((total + $(rss "$p"))); done; echo "$total"; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_while() { local max=0 r; while kill -0 "$2" 2>/dev/null; do r=$(rss "$1"); [ "$r" -gt "$max" ] && max=$r; sleep 0.3; done; echo "$max"; }
report() { # label, background pid
  local before after peak
  before=$(cpu "$proxy"); peak=$(peak_while "$proxy" "$2"); after=$(cpu "$proxy")
  printf '%-34s sidecar peak RSS %6d KiB, CPU %5.2f s; gunicorn tree %6d KiB\n' "$1" "$peak" \
    "$(echo "($after - $before) / $(getconf CLK_TCK)" | bc -l)" "$(tree_rss "$gunicorn")"
}

printf '%-34s sidecar RSS      %6d KiB;                gunicorn tree %6d KiB\n' "idle" "$(rss "$proxy")" "$(tree_rss "$gunicorn")"
stylesheet=$(curl -s -H "Host: $host" -H 'X-Forwarded-Proto: https' "localhost:$port/" | grep -o '/static/notes/app\.[0-9a-f]*\.css')
wrk -t2 -c64 -d15s -H "Host: $host" -H 'X-Forwarded-Proto: https' "http://127.0.0.1:$port/" > "$work/dynamic.txt" &
report "dynamic page, 64 conns, 15 s" $!
wrk -t2 -c64 -d15s -H 'Accept-Encoding: br' "http://127.0.0.1:$port$stylesheet" > "$work/static.txt" &
report "static file (br), 64 conns, 15 s" $!
head -c 12000000 /dev/urandom > "$work/body"
(for _ in $(seq 16); do
   curl -s -o /dev/null -w '%{http_code}\n' -H "Host: $host" -H 'X-Forwarded-Proto: https' --data-binary "@$work/body" "localhost:$port/api/upload" &
 done; wait) > "$work/uploads.txt" &
report "16 concurrent 12 MB uploads" $!
echo "dynamic: $(grep Requests/sec "$work/dynamic.txt")  static: $(grep Requests/sec "$work/static.txt")  uploads: $(sort "$work/uploads.txt" | uniq -c | xargs)"
