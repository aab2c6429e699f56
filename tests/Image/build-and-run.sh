#!/usr/bin/env bash
# Builds the repository's Dockerfile with buildah and runs the image it produces, on a machine with no
# Docker engine and no registry access:
#
#  1. makes local stand-ins for the Dockerfile's two base images and tags them with the FROM names:
#     - the SDK image from this machine's .NET SDK plus the Debian packages Native AOT links with
#       (clang, binutils, libc6-dev, ...), copied file by file from their dpkg manifests;
#     - the chiseled runtime-deps image as only the shared libraries the binary needs, a passwd file
#       and CA certificates (no shell), with the real image's user and environment;
#  2. builds the unchanged Dockerfile with `buildah bud --pull=never` (NuGet restore inside the build
#     talks to the package registry only);
#  3. checks the image: entrypoint, user, ports, labels, no shell, nothing writable outside /tmp, every
#     library the binary links present;
#  4. runs the entrypoint from the image's root filesystem (`buildah run --isolation chroot`) with the
#     root filesystem mounted read-only and /tmp as the only writable volume, in front of a real
#     gunicorn, sends requests through it, and stops it with SIGTERM.
#
# With --measure it also reports image and binary sizes, time from process start to /healthz/ready,
# and idle/loaded RSS (README "Container image" section). Storage lives in a private temp directory
# that is removed on exit, so runs never collide and leave nothing behind.
#
# Usage: tests/Image/build-and-run.sh [--measure]      (root; packages: buildah clang binutils libc6-dev
#        zlib1g-dev gunicorn curl; wrk for --measure)
set -euo pipefail

measure=false
[ "${1:-}" = "--measure" ] && measure=true

repo=$(cd "$(dirname "$0")/../.." && pwd)
sdk_image=$(sed -n 's/^FROM \([^ ]*\) AS build$/\1/p' "$repo/Dockerfile")
runtime_image=$(sed -n 's/^FROM \([^ ]*\)$/\1/p' "$repo/Dockerfile" | tail -1)
[ -n "$sdk_image" ] && [ -n "$runtime_image" ] || { echo "FAIL: cannot read the FROM lines of Dockerfile" >&2; exit 1; }
image=localhost/sidecar:build-and-run
version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' "$repo/src/Sidecar.csproj")
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

# SIDECAR_IMAGE_WORK=DIR keeps the storage (and the built image) in DIR between runs, for iterating
# on the checks; by default everything lives in a fresh temp directory removed on exit.
keep=${SIDECAR_IMAGE_WORK:-}
if [ -n "$keep" ]; then work=$keep; mkdir -p "$work"; else work=$(mktemp -d /var/tmp/sidecar-image.XXXXXX); fi
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
cat >"$work/policy.json" <<'EOF'
{ "default": [ { "type": "insecureAcceptAnything" } ] }
EOF

b() {
  buildah --root "$work/storage" --runroot "$work/run" --storage-driver vfs "$@"
}

pids=()
cleanup() {
  local status=$?
  set +e
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # Anything mounted under the work directory (the read-only bind) must go before the directory does.
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
  b rm --all >/dev/null 2>&1 || true
  if [ -z "$keep" ]; then
    b rmi --all --force >/dev/null 2>&1 || true
    rm -rf --one-file-system "$work"
  fi
  exit $status
}
trap cleanup EXIT
trap "exit 143" TERM INT

step() { printf '\n== %s (%ss)\n' "$*" "$SECONDS"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Files (and the directories and symlinks among them) that the given installed packages and their
# installed dependencies own, documentation excluded.
package_files() {
  apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances "$@" 2>/dev/null | grep -v '^[ <]' | sort -u |
    xargs dpkg -L 2>/dev/null | grep '^/' |
    grep -Ev '^/usr/share/(doc|man|info|locale|lintian|bug)(/|$)|^/\.$' | sort -u
}

# A rootfs directory with the merged-/usr layout Ubuntu and Debian images have.
new_rootfs() {
  local root=$1
  mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib/$multiarch" "$root/usr/lib64" "$root/etc" "$root/root"
  install -d -m 1777 "$root/tmp"
  ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"; ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"
}

build_image() {
step "SDK stand-in for $sdk_image"
sdk=$(b from --pull=never scratch)
sdk_root=$(b mount "$sdk")
new_rootfs "$sdk_root"
# What the real -aot SDK image adds to a plain Ubuntu: a shell and coreutils for RUN, clang and the
# GNU linker with libc/libgcc development files for the native link, TLS and CA certificates for
# NuGet, ICU for the SDK itself.
icu=$(dpkg-query -W -f '${Package}\n' 'libicu[0-9]*' | grep -E '^libicu[0-9]+$')
package_files base-files bash dash coreutils grep sed findutils tar gzip clang binutils libc6-dev zlib1g-dev \
    ca-certificates openssl libssl3 $icu libstdc++6 libgcc-s1 |
  tar -C / --no-recursion -cf - -T - 2>/dev/null | tar -C "$sdk_root" --keep-directory-symlink -xf -
ln -sf dash "$sdk_root/usr/bin/sh"
cp -a /etc/ssl "$sdk_root/etc/"
cp -a /etc/ld.so.conf /etc/ld.so.conf.d "$sdk_root/etc/"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$sdk_root/etc/passwd"
printf 'root:x:0:\n' >"$sdk_root/etc/group"
dotnet_root=$(dirname "$(readlink -f "$(command -v dotnet)")")
mkdir -p "$sdk_root/usr/share/dotnet"
# The parts of the SDK a C# build never touches stay out, to keep the copies vfs makes small.
tar -C "$dotnet_root" --exclude='./sdk/*/FSharp' --exclude='./sdk/*/DotnetTools' \
    --exclude='./sdk/*/TestHostNetFramework' --exclude='./templates' -cf - . |
  tar -C "$sdk_root/usr/share/dotnet" -xf -
ln -sf ../share/dotnet/dotnet "$sdk_root/usr/bin/dotnet"
ldconfig -r "$sdk_root"
b umount "$sdk" >/dev/null
b config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env HOME=/root \
  --env DOTNET_CLI_TELEMETRY_OPTOUT=1 --env DOTNET_NOLOGO=1 --env DOTNET_RUNNING_IN_CONTAINER=true \
  --env DOTNET_USE_POLLING_FILE_WATCHER=true --cmd /bin/sh "$sdk"
b commit --quiet --signature-policy "$work/policy.json" "$sdk" "$sdk_image" >/dev/null
b rm "$sdk" >/dev/null

step "runtime stand-in for $runtime_image"
rt=$(b from --pull=never scratch)
rt_root=$(b mount "$rt")
new_rootfs "$rt_root"
# The libraries a Native AOT binary can load: libc and libm (linked), libgcc_s (glibc loads it to
# unwind threads), libssl and libcrypto (loaded on first TLS use, e.g. an https upstream). The binary's
# NEEDED entries are checked against this set after the build.
interpreter=$(readelf -l /bin/true | sed -n 's/.*interpreter: \(.*\)]/\1/p')
for lib in libc.so.6 libm.so.6 libgcc_s.so.1 libssl.so.3 libcrypto.so.3; do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|AArch64|aarch64/ { print $NF; exit }')
  [ -n "$path" ] || fail "host library $lib not found"
  cp -L "$path" "$rt_root/usr/lib/$multiarch/$lib"
done
cp -L "$interpreter" "$rt_root/usr/lib/$multiarch/$(basename "$interpreter")"
ln -sf "../lib/$multiarch/$(basename "$interpreter")" "$rt_root/usr${interpreter#/usr}"
mkdir -p "$rt_root/etc/ssl/certs"
cp -L /etc/ssl/certs/ca-certificates.crt "$rt_root/etc/ssl/certs/"
# The chiseled image's users: root and "app" (1654); /bin/false does not exist there either.
printf 'root:x:0:0:root:/root:/bin/false\napp:x:1654:1654::/home/app:/bin/false\n' >"$rt_root/etc/passwd"
printf 'root:x:0:\napp:x:1654:\n' >"$rt_root/etc/group"
install -d -m 0755 -o 1654 -g 1654 "$rt_root/home/app"
b umount "$rt" >/dev/null
b config --env APP_UID=1654 --env ASPNETCORE_HTTP_PORTS=8080 --env DOTNET_RUNNING_IN_CONTAINER=true \
  --env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=true --user 1654 "$rt"
b commit --quiet --signature-policy "$work/policy.json" "$rt" "$runtime_image" >/dev/null
b rm "$rt" >/dev/null

step "buildah bud (the repository's Dockerfile)"
b bud --isolation chroot --pull=never --signature-policy "$work/policy.json" --layers=false \
  --build-arg TARGETARCH="$arch" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  -f "$repo/Dockerfile" -t "$image" "$repo"
}

if [ -n "$keep" ] && b inspect --type image "$image" >/dev/null 2>&1; then
  echo "reusing $image from $work"
else
  build_image
fi

step "image checks"
b inspect --type image "$image" >"$work/inspect.json"
/usr/bin/python3 - "$work/inspect.json" "$revision" <<'EOF'
import json, sys
c, revision = json.load(open(sys.argv[1]))["OCIv1"]["config"], sys.argv[2]
print(json.dumps(c))
problems = []
def expect(what, actual, wanted):
    if actual != wanted: problems.append(f"{what}: {actual!r}, expected {wanted!r}")
expect("Entrypoint", c.get("Entrypoint"), ["/app/sidecar"])
expect("User", c.get("User"), "10001:10001")
expect("ExposedPorts", sorted(c.get("ExposedPorts", {})), ["8080/tcp", "9901/tcp"])
env = dict(e.split("=", 1) for e in c.get("Env", []))
expect("SIDECAR_TEMP_DIR", env.get("SIDECAR_TEMP_DIR"), "/tmp")
expect("DOTNET_EnableDiagnostics", env.get("DOTNET_EnableDiagnostics"), "0")
# Peak RSS under load: the young-generation budget (hex, 1 MiB); see the Dockerfile.
expect("DOTNET_GCgen0size", env.get("DOTNET_GCgen0size"), "100000")
expect("DOTNET_GCRegionSize", env.get("DOTNET_GCRegionSize"), "100000")
expect("DOTNET_GCGen1MaxBudget", env.get("DOTNET_GCGen1MaxBudget"), "100000")
expect("WorkingDir", c.get("WorkingDir"), "/app")
labels = c.get("Labels", {})
expect("revision label", labels.get("org.opencontainers.image.revision"), revision)
for key in ("org.opencontainers.image.version", "org.opencontainers.image.title"):
    if not labels.get(key): problems.append(f"label {key} missing")
if problems:
    sys.exit("FAIL: " + "; ".join(problems))
EOF
ctr=$(b from --pull=never "$image")
rootfs=$(b mount "$ctr")
for shell in bin/sh bin/bash bin/dash bin/busybox; do
  [ ! -e "$rootfs/$shell" ] || fail "the image contains a shell: /$shell"
done
# With the root filesystem read-only, the process (uid 10001) can write only where a volume is mounted:
# nothing in the image may be owned by it or writable by everyone, except the /tmp mount point.
writable=$(cd "$rootfs" && find . -xdev \( -uid 10001 -o \( -perm -o+w ! -type l \) \) ! -path ./tmp)
[ -z "$writable" ] || fail "writable by the sidecar user: $writable"
[ "$(stat -c %u "$rootfs/app/sidecar")" = 0 ] || fail "/app/sidecar is not owned by root"
for needed in $(readelf -d "$rootfs/app/sidecar" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  [ -e "$rootfs/usr/lib/$multiarch/$needed" ] || fail "the binary needs $needed, which the runtime base lacks"
done
binary_bytes=$(stat -c %s "$rootfs/app/sidecar")
echo "binary: $binary_bytes bytes; NEEDED: $(readelf -d "$rootfs/app/sidecar" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')"

step "run the entrypoint in front of gunicorn (read-only root, /tmp volume, uid from the image)"
free_ports() { /usr/bin/python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'; }
read -r app_port port admin_port < <(free_ports)
mkdir -p "$work/app-state" "$work/volume-tmp"
chmod 1777 "$work/volume-tmp"   # an emptyDir is world-writable too
TESTAPP_STATE_DIR="$work/app-state" gunicorn --bind "127.0.0.1:$app_port" --workers 2 --worker-class sync \
  --chdir "$repo/tests/apps" testapp:app >"$work/gunicorn.log" 2>&1 &
pids+=($!)

entrypoint=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["OCIv1"]["config"]["Entrypoint"]))' "$work/inspect.json")
run_args=(--isolation chroot --mount "type=bind,src=$work/volume-tmp,dst=/tmp,rw"
  --env SIDECAR_PORT="$port" --env SIDECAR_ADMIN_PORT="$admin_port"
  --env SIDECAR_UPSTREAM="http://127.0.0.1:$app_port")
# A first run creates the mount points buildah needs (/proc, /dev, /etc/hosts, ...) and proves the
# binary starts. Then everything the image ships is made read-only for the real run: each top-level
# directory is bind-mounted read-only onto itself. Only /run stays writable, for buildah's own
# bookkeeping (it is root-owned, so the sidecar's user cannot write there either), and /tmp is the volume.
b run "${run_args[@]}" "$ctr" -- $entrypoint --check-config >"$work/check-config.log" 2>&1 ||
  { cat "$work/check-config.log"; fail "sidecar --check-config failed in the image"; }
for dir in "$rootfs"/*; do
  case "${dir##*/}" in run|proc|sys|dev|tmp) continue ;; esac
  [ -d "$dir" ] && [ ! -L "$dir" ] || continue
  mount --bind "$dir" "$dir"
  mount -o remount,bind,ro "$dir"
done
touch "$rootfs/app/probe" 2>/dev/null && fail "/app is still writable"

b run "${run_args[@]}" "$ctr" -- $entrypoint >"$work/sidecar.log" 2>&1 &
runner=$!
pids+=($runner)

ready=""
for _ in $(seq 1 200); do
  if ready=$(curl -fsS "http://127.0.0.1:$admin_port/healthz/ready" 2>/dev/null); then break; fi
  kill -0 "$runner" 2>/dev/null || { cat "$work/sidecar.log"; fail "the sidecar exited before becoming ready"; }
  sleep 0.1
done
[ -n "$ready" ] || { cat "$work/sidecar.log" "$work/gunicorn.log"; fail "/healthz/ready never answered 200"; }
sidecar_pid=$(ss -Hltnp "sport = :$admin_port" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
[ -n "$sidecar_pid" ] || fail "no process listens on the admin port"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$sidecar_pid/status")
[ "$uid" = 10001 ] || fail "the sidecar runs as uid $uid, expected 10001"
# Seen from inside the process: /app and /usr are read-only mounts, /tmp is the volume.
awk '{ print $5, $6 }' "/proc/$sidecar_pid/mountinfo" >"$work/mounts.txt"
for dir in /app /usr /etc; do
  grep -Eq "^$dir ro(,|$)" "$work/mounts.txt" || { cat "$work/mounts.txt"; fail "$dir is not read-only inside the container"; }
done
grep -Eq "^/tmp rw(,|$)" "$work/mounts.txt" || fail "/tmp is not the writable volume inside the container"

hello=$(curl -fsS "http://127.0.0.1:$port/hello")
[ "$hello" = '{"hello": "world"}' ] || fail "GET /hello through the sidecar answered: $hello"
# 1 MiB upload: larger than the 64k memory buffer, so it is spooled to /tmp before gunicorn sees it.
head -c 1048576 /dev/urandom >"$work/upload.bin"
sha=$(sha256sum "$work/upload.bin" | cut -d' ' -f1)
echo_json=$(curl -fsS -H 'Transfer-Encoding: chunked' --data-binary "@$work/upload.bin" "http://127.0.0.1:$port/echo")
/usr/bin/python3 -c '
import json, sys
e = json.loads(sys.argv[1])
assert e["length"] == 1048576 and e["sha256"] == sys.argv[2], e' "$echo_json" "$sha" ||
  fail "the upload did not reach gunicorn intact: $echo_json"
# 8 MB download: spooled to /tmp on the way back.
got=$(curl -fsS "http://127.0.0.1:$port/big?size=8000000" | wc -c)
[ "$got" = 8000000 ] || fail "GET /big returned $got bytes"
grep -q '"status":200' "$work/sidecar.log" || fail "no access log line on stdout"
# /metrics works in the native binary and names the commit the image was built from (REVISION).
metrics=$(curl -fsS "http://127.0.0.1:$admin_port/metrics")
grep -q "^sidecar_build_info{version=\"$version\",commit=\"$revision\"," <<<"$metrics" ||
  fail "sidecar_build_info does not name version $version and commit $revision: $(grep '^sidecar_build_info' <<<"$metrics")"
grep -q '^sidecar_requests_total{route="default",method="GET",status_class="2xx"} 2$' <<<"$metrics" ||
  fail "sidecar_requests_total does not count the two GETs: $(grep '^sidecar_requests_total' <<<"$metrics")"
# Meters reach /metrics only while the AOT feature switches keep them (MetricsSupport), which only this
# native build exercises: Kestrel's and the runtime's families must be there too.
for family in microsoft_aspnetcore_server_kestrel_kestrel_active_connections \
    system_runtime_dotnet_gc_heap_total_allocated process_cpu_seconds_total; do
  grep -q "^$family" <<<"$metrics" || fail "/metrics in the image lacks $family"
done

kill -TERM "$sidecar_pid"
for _ in $(seq 1 100); do kill -0 "$runner" 2>/dev/null || break; sleep 0.1; done
kill -0 "$runner" 2>/dev/null && fail "the sidecar did not stop within 10 s of SIGTERM"
wait "$runner" && code=0 || code=$?
[ "$code" = 0 ] || { cat "$work/sidecar.log"; fail "the sidecar exited with $code after SIGTERM"; }
grep -o " $rootfs/[^ ]*" /proc/self/mounts | while read -r m; do umount "$m"; done
echo "requests through the image: ok (uid $uid, read-only root, exit 0 on SIGTERM)"

$measure || exit 0

step "measure: sizes"
# What a registry stores and a node pulls: the config blob plus gzip-compressed layers.
b push --quiet --signature-policy "$work/policy.json" --compression-format gzip "$image" "oci:$work/oci:sidecar" >/dev/null
/usr/bin/python3 - "$work/oci" "$binary_bytes" <<'EOF'
import json, os, sys
root, binary = sys.argv[1], int(sys.argv[2])
def blob(digest): return os.path.join(root, "blobs", *digest.split(":"))
index = json.load(open(os.path.join(root, "index.json")))
manifest = json.load(open(blob(index["manifests"][0]["digest"])))
layers = [l["size"] for l in manifest["layers"]]
total = sum(layers) + manifest["config"]["size"]
mb = lambda n: f"{n / 1e6:.2f} MB"
print(f"image, compressed: {mb(total)} = base stand-in layer {mb(layers[0])} + sidecar layer {mb(sum(layers[1:]))} + config")
print(f"binary /app/sidecar: {mb(binary)} ({binary / 2**20:.1f} MiB)")
EOF

step "measure: start-up time and memory (10 runs, chroot into the image rootfs as uid 10001)"
mount -t proc proc "$rootfs/proc"
for node in "null c 1 3" "zero c 1 5" "random c 1 8" "urandom c 1 9"; do
  set -- $node; [ -e "$rootfs/dev/$1" ] || mknod -m 666 "$rootfs/dev/$1" "$2" "$3" "$4"
done
mount --bind "$work/volume-tmp" "$rootfs/tmp"
/usr/bin/python3 - "$rootfs" "$work/inspect.json" "$port" "$admin_port" "$app_port" <<'EOF'
import json, os, socket, statistics, subprocess, sys, time
rootfs, inspect, port, admin, app = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
config = json.load(open(inspect))["OCIv1"]["config"]
env = dict(e.split("=", 1) for e in config["Env"])
env.update(SIDECAR_PORT=str(port), SIDECAR_ADMIN_PORT=str(admin), SIDECAR_UPSTREAM=f"http://127.0.0.1:{app}",
           SIDECAR_ACCESS_LOG="off")
uid, gid = (int(x) for x in config["User"].split(":"))

def enter_image():
    os.chroot(rootfs); os.chdir(config.get("WorkingDir") or "/"); os.setgroups([]); os.setgid(gid); os.setuid(uid)

def ready_status():
    try:
        with socket.create_connection(("127.0.0.1", admin), timeout=1) as s:
            s.sendall(b"GET /healthz/ready HTTP/1.1\r\nHost: sidecar\r\nConnection: close\r\n\r\n")
            return s.recv(64).split(b" ")[1]
    except (ConnectionRefusedError, IndexError):
        return None

def rss_mb(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024

def start():
    t0 = time.perf_counter()
    p = subprocess.Popen(config["Entrypoint"], env=env, preexec_fn=enter_image,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while ready_status() != b"200":
        if p.poll() is not None:
            sys.exit("FAIL: the sidecar exited during start-up: " + p.stderr.read().decode())
        if time.perf_counter() - t0 > 20:
            sys.exit("FAIL: not ready within 20 s")
        time.sleep(0.001)
    return p, (time.perf_counter() - t0) * 1000

def cpu_ms(pid):
    # utime + stime in clock ticks: the start-up work itself, independent of how busy the machine is.
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")

def stop(p):
    p.terminate()
    if p.wait(timeout=30) != 0:
        sys.exit(f"FAIL: exit code {p.returncode} after SIGTERM")

ready, cpu, idle = [], [], []
for _ in range(10):
    p, ms = start()
    ready.append(ms)
    cpu.append(cpu_ms(p.pid))
    time.sleep(2)
    idle.append(rss_mb(p.pid, "VmRSS"))
    stop(p)
print(f"start -> /healthz/ready 200: median {statistics.median(ready):.0f} ms, min {min(ready):.0f}, max {max(ready):.0f} "
      f"({', '.join(f'{r:.0f}' for r in ready)})")
print(f"CPU time used by then: median {statistics.median(cpu):.0f} ms (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
print(f"RSS idle (2 s after ready): median {statistics.median(idle):.1f} MB")

p, _ = start()
wrk = subprocess.run(["wrk", "-t2", "-c32", "-d10s", f"http://127.0.0.1:{port}/hello"], capture_output=True, text=True)
rps = next((l.split()[1] for l in wrk.stdout.splitlines() if l.startswith("Requests/sec")), "?")
print(f"RSS under load (wrk -t2 -c32 -d10s GET /hello through to gunicorn, {rps} req/s): "
      f"now {rss_mb(p.pid, 'VmRSS'):.1f} MB, peak {rss_mb(p.pid, 'VmHWM'):.1f} MB")
stop(p)
EOF
grep -o " $rootfs/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount "$m"; done
