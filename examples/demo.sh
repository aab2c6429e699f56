#!/usr/bin/env bash
# Runs an example app behind the sidecar on this machine, the way the Pod in deploy/ runs it:
# static files collected into a directory the sidecar serves, migrations applied, gunicorn (sync
# workers) on loopback, the sidecar in front with deploy/base/sidecar.json.
#
#   examples/demo.sh            # the Django example
#   examples/demo.sh flask      # the Flask example
#
# Then open http://127.0.0.1:8080/ (admin endpoints on :9901). Ctrl-C stops everything.
# Needs: dotnet, gunicorn and python3-django/python3-whitenoise (or python3-flask) from Debian, or
# the same from pip. Ports: SIDECAR_PORT (8080), SIDECAR_ADMIN_PORT (9901), APP_PORT (8000).
# SIDECAR_DLL=path/to/sidecar.dll uses an existing build instead of building src/.
set -euo pipefail

app="${1:-django}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d -t sidecar-demo.XXXXXX)"
port="${SIDECAR_PORT:-8080}"
admin_port="${SIDECAR_ADMIN_PORT:-9901}"
app_port="${APP_PORT:-8000}"
# Debian's gunicorn and Django live in the system Python, which a pyenv or venv python3 may hide.
python="${PYTHON:-python3}"
if ! "$python" -c 'import gunicorn' 2>/dev/null && [ -x /usr/bin/python3 ]; then
  python=/usr/bin/python3
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() { # url what
  for _ in $(seq 1 150); do
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "demo: a process exited during start-up (see above)" >&2; exit 1; }
    done
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "demo: $2 did not come up ($1)" >&2
  exit 1
}

sidecar_dll="${SIDECAR_DLL:-}"   # an already built sidecar.dll skips the build
if [ -z "$sidecar_dll" ]; then
  echo "demo: building the sidecar"
  dotnet build "$root/src" -c Release -o "$work/sidecar" -v quiet -nologo >/dev/null
  sidecar_dll="$work/sidecar/sidecar.dll"
fi

mkdir -p "$work/static" "$work/spool"
case "$app" in
  django)
    cd "$root/examples/django"
    export DJANGO_SECRET_KEY="demo-only-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export DJANGO_STATIC_ROOT="$work/static" DJANGO_DB_NAME="$work/db.sqlite3"
    export DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost"
    echo "demo: collectstatic and migrate (sqlite in $work)"
    "$python" manage.py collectstatic --noinput -v 0
    "$python" manage.py migrate --noinput -v 0
    static_root="$work/static"
    ;;
  flask)
    cd "$root/examples/flask"
    export FLASK_SECRET_KEY="demo-only" NOTES_DATABASE="$work/notes.sqlite3"
    echo "demo: migrate (sqlite in $work)"
    "$python" -m notes migrate
    static_root="$root/examples/flask/notes/static"
    ;;
  *)
    echo "usage: $0 [django|flask]" >&2
    exit 2
    ;;
esac

"$python" -m gunicorn --config gunicorn.conf.py --bind "127.0.0.1:$app_port" --workers 2 &
pids+=($!)

SIDECAR_PORT="$port" SIDECAR_ADMIN_PORT="$admin_port" SIDECAR_UPSTREAM="http://127.0.0.1:$app_port" \
SIDECAR_CONFIG="$root/deploy/base/sidecar.json" SIDECAR_TEMP_DIR="$work/spool" \
SIDECAR_STATIC_ROOT="$static_root" SIDECAR_STATIC_URL=/static/ \
  env -u SIDECAR_DLL dotnet "$sidecar_dll" &   # the script's own variable is not a sidecar setting
pids+=($!)

wait_for "http://127.0.0.1:$admin_port/healthz/ready" "the sidecar (and gunicorn behind it)"
cat <<EOF

  app          http://127.0.0.1:$port/
  readiness    http://127.0.0.1:$admin_port/healthz/ready
  metrics      http://127.0.0.1:$admin_port/metrics

  try:  curl -si http://127.0.0.1:$port/api/whoami
        curl -si -X POST --data-binary 'hello' http://127.0.0.1:$port/api/notes

Ctrl-C stops gunicorn and the sidecar.
EOF
wait -n "${pids[@]}"
