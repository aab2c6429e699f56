#!/usr/bin/env bash
# Runs every test on a fresh machine: installs the real programs the tests start (gunicorn, nginx,
# slowhttptest, prometheus, ...), restores NuGet packages, runs the suite, and ends with one line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

packages=(
  gunicorn python3-django python3-whitenoise python3-brotli python3-flask uvicorn python3-wsproto python3-jsonschema
  nginx libnginx-mod-http-brotli-static wrk slowhttptest prometheus buildah kubectl
  curl procps clang zlib1g-dev e2fsprogs strace
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# kubectl may come from elsewhere than Debian (a cloud SDK, a static binary); any kubectl with kustomize will do.
if command -v kubectl >/dev/null 2>&1; then
  missing=("${missing[@]/kubectl}")
fi
read -ra missing <<<"${missing[*]}"
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null; then
    # One unavailable name fails the whole transaction; install the rest one by one and say what is missing,
    # so only the tests that need the missing program fail, each naming it.
    for p in "${missing[@]}"; do
      DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$p" >/dev/null 2>&1 || echo "warning: could not install $p"
    done
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
log=$(mktemp)
# Everything the tests and the programs they start write to temp (spools, sockets, rendered manifests) lands
# in one directory that goes away with the run, even when a test dies before its own clean-up.
TMPDIR=$(mktemp -d /tmp/sidecar-tests-XXXXXX)
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
dotnet test Sidecar.sln -c Release --logger "console;verbosity=normal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# The runner's closing block: "Total tests: N" then "Passed: N" and, when any failed, "Failed: N".
passed=$(sed -nE 's/^ +Passed: +([0-9]+)$/\1/p' "$log" | tail -1)
failed=$(sed -nE 's/^ +Failed: +([0-9]+)$/\1/p' "$log" | tail -1)
failed=${failed:-0}
rm -f "$log"
if [ -z "$passed" ]; then
  # The build or the test host failed before any test ran.
  echo "0 passed, 1 failed"
  exit 1
fi
echo "${passed} passed, ${failed} failed"
[ "$status" -eq 0 ] && [ "${failed}" -eq 0 ]
