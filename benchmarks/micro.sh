#!/usr/bin/env bash
# BenchmarkDotNet microbenchmarks of the per-request hot paths (benchmarks/Micro).
#   bash benchmarks/micro.sh                 all of them (a few minutes)
#   bash benchmarks/micro.sh '*Spool*'       a filter; any other BenchmarkDotNet argument works too
# Results land in benchmarks/Micro/BenchmarkDotNet.Artifacts/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/Micro"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
filter=("--filter" "*")
[ $# -gt 0 ] && filter=("--filter" "$@")
exec dotnet run -c Release -- "${filter[@]}"
