#!/usr/bin/env bash
# Benchmarks the sidecar side by side with nginx (reference config) and gunicorn direct / WhiteNoise.
#   bash benchmarks/run.sh            full run (~22 min): results/<date>-<commit>.{md,json} and results/latest.*
#   bash benchmarks/run.sh --quick    short durations, one repetition: results/last-quick.*.tmp
#   bash benchmarks/run.sh --readme   full run, then copy the table into README.md
# Other options (see --help): --only a,c  --variant NAME:SIDECAR_X=...,DOTNET_Y=...  --keep
# Environment: SIDECAR_BIN=path skips the publish step (use an already published sidecar).
set -euo pipefail
cd "$(dirname "$0")/.."

# The programs the benchmark starts, from Debian (PyPI is not reachable here).
needed="gunicorn python3-django python3-whitenoise python3-brotli nginx libnginx-mod-http-brotli-static wrk slowhttptest gettext-base clang zlib1g-dev"
missing=$(for p in $needed; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done | xargs)
if [ -n "$missing" ]; then
  as_root=$([ "$(id -u)" -eq 0 ] || echo sudo)
  echo "installing: $missing"
  $as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
build_kind="Native AOT"
if [ -n "${SIDECAR_BIN:-}" ]; then
  bin="$SIDECAR_BIN"; build_kind="given (${SIDECAR_BIN})"
else
  out="${BENCH_BUILD_DIR:-${TMPDIR:-/tmp}/sidecar-bench-build}"
  mkdir -p "$out"
  echo "publishing the sidecar (Release, Native AOT) to $out/aot"
  if dotnet publish src -c Release -r linux-x64 -o "$out/aot" > "$out/aot.log" 2>&1; then
    bin="$out/aot/sidecar"
  else
    echo "WARNING: Native AOT publish failed (see $out/aot.log); falling back to a framework-dependent Release build" >&2
    dotnet publish src -c Release -p:PublishAot=false -o "$out/fdd" > "$out/fdd.log" 2>&1
    bin="$out/fdd/sidecar"; build_kind="framework-dependent (AOT publish failed)"
  fi
fi

cd benchmarks
exec /usr/bin/python3 -m harness.main --sidecar-bin "$bin" --build-kind "$build_kind" "$@"
