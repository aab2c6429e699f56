# Sidecar image: a Native AOT binary on Ubuntu's chiseled (distroless) runtime-deps base.
# The final image has no shell, no package manager and no .NET runtime; it runs as a numeric
# non-root user and writes only to /tmp, so it works with readOnlyRootFilesystem: true when the
# Pod mounts an emptyDir at /tmp.
#
#   docker build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t sidecar .
#
# tests/Image/build-and-run.sh builds this same file with buildah in CI.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble-aot AS build
# Set by BuildKit/buildah for the platform being built; the SDK image runs on that platform too,
# so the native toolchain in it links for the right architecture.
ARG TARGETARCH
WORKDIR /source

# Restore in its own step so the package download is reused until the project file changes.
COPY src/Sidecar.csproj src/
RUN case "${TARGETARCH:-amd64}" in \
      amd64) rid=linux-x64 ;; \
      arm64) rid=linux-arm64 ;; \
      *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; \
    esac \
 && echo "$rid" > /tmp/rid \
 && dotnet restore src/Sidecar.csproj -r "$rid"

COPY src/ src/
ARG VERSION=0.1.0
# The build context has no .git, so the commit is passed in; it becomes sidecar_build_info's commit label.
ARG REVISION=unknown
RUN dotnet publish src/Sidecar.csproj --no-restore -c Release -r "$(cat /tmp/rid)" \
      -p:Version="${VERSION}" -p:SourceRevisionId="${REVISION}" -o /publish \
 && test -x /publish/sidecar

FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="sidecar" \
      org.opencontainers.image.description="Buffering reverse proxy for gunicorn in Kubernetes Pods (replaces the nginx sidecar)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled"

# Only the binary: root-owned and not writable by the user it runs as.
COPY --from=build /publish/sidecar /app/sidecar

# The host's content root is the working directory; /app holds only the binary. (The sidecar turns off
# the host's appsettings.json reload itself, which would otherwise watch that directory recursively.)
WORKDIR /app

# Spooled bodies go to /tmp: mount an emptyDir there (the root filesystem can then be read-only).
# The base image's ASPNETCORE_HTTP_PORTS is cleared because the ports come from SIDECAR_PORT and
# SIDECAR_ADMIN_PORT; diagnostics are off so the runtime creates no IPC socket in /tmp.
# DOTNET_GCgen0size is hexadecimal (1 MiB): the smallest young-generation budget. The GC's own choice,
# sized from the CPU cache, let the heap grow to ~100 MB under load before collecting; 1 MiB took peak RSS
# under scenario a from 124 to 89 MB at the time, with no measurable CPU cost (benchmarks/run.sh, scenarios a
# and c; the README's levers table). Only an env var sets it.
# DOTNET_GCRegionSize, also hexadecimal, makes the GC's regions 1 MiB instead of 4 MiB, so it keeps fewer
# bytes committed beyond what is live: idle RSS 41.5 -> 39.7 MB, peak after scenario a 53.9 -> 52.5 MB, GC
# memory committed after load 20-22 -> 15 MB, CPU per request unchanged (README, "What moved the numbers").
# DOTNET_GCGen1MaxBudget (hexadecimal, 1 MiB) caps how much gen0 may promote into gen1 before gen1 is
# collected. At the start of load the GC let gen1 grow to 6 MB before its first gen1 collection, which was
# the whole of the peak: peak RSS after 4 s of proxied GETs 42 -> 38 MB, CPU per request unchanged.
ENV SIDECAR_TEMP_DIR=/tmp \
    TMPDIR=/tmp \
    ASPNETCORE_HTTP_PORTS= \
    DOTNET_EnableDiagnostics=0 \
    DOTNET_GCgen0size=100000 \
    DOTNET_GCRegionSize=100000 \
    DOTNET_GCGen1MaxBudget=100000

# Numeric, so kubelet can verify runAsNonRoot without a passwd lookup; above 10000 so it never
# matches a host user.
USER 10001:10001
EXPOSE 8080 9901
ENTRYPOINT ["/app/sidecar"]
