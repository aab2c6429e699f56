using Prometheus;
using Sidecar.Buffering;
using Sidecar.Configuration;
using Sidecar.Health;
using Sidecar.StaticFiles;

namespace Sidecar.Telemetry;

/// <summary>
/// Values that live in a host's own objects (spool store, static files, config status, drain state, in-flight set) and are
/// read when Prometheus scrapes rather than pushed on every change. The default registry is process-wide while
/// these objects belong to one host, so each host registers itself here for its lifetime; counters advance by
/// what changed since the previous scrape, which stays exact even when hosts come and go (as in tests).
/// </summary>
internal sealed class HostGauges : IDisposable
{
    private static readonly Lock Gate = new();
    private static readonly List<HostGauges> Live = [];
    private static readonly HashSet<string> PublishedHashes = [];
    private static bool _callbackRegistered;

    private readonly SpoolStore _spool;
    private readonly ConfigReloadStatus _config;
    private readonly DrainState _drain;
    private readonly InFlightRequests _inFlight;
    private readonly StaticFileService _static;
    private long _seenFiles;
    private long _seenWritten;
    private long _seenApplied;
    private long _seenRejected;
    private long _seenRestartRequired;

    public HostGauges(SpoolStore spool, ConfigReloadStatus config, DrainState drain, InFlightRequests inFlight, StaticFileService staticFiles)
    {
        _spool = spool;
        _config = config;
        _drain = drain;
        _inFlight = inFlight;
        _static = staticFiles;
        lock (Gate)
        {
            Live.Add(this);
            if (!_callbackRegistered)
            {
                // prometheus-net offers no way to remove a callback, so exactly one is registered per process.
                Metrics.DefaultRegistry.AddBeforeCollectCallback(Update);
                _callbackRegistered = true;
            }
        }
    }

    private static void Update()
    {
        lock (Gate)
        {
            long spoolBytes = 0, quota = 0, inFlight = 0, atUpstream = 0, staticMemory = 0;
            var draining = false;
            var lastApplied = 0.0;
            var hashes = new HashSet<string>();
            foreach (var host in Live)
            {
                host.AdvanceCounters();
                spoolBytes += host._spool.BytesOnDisk;
                quota = Math.Max(quota, host._spool.Quota);
                inFlight += host._inFlight.Count;
                atUpstream += host._inFlight.AtUpstream;
                staticMemory += host._static.MemoryInUse;
                draining |= host._drain.IsDraining;
                lastApplied = Math.Max(lastApplied, host._config.LastApplied.ToUnixTimeMilliseconds() / 1000.0);
                hashes.Add(host._config.ActiveHash);
            }

            SidecarMetrics.SpoolInUse.Set(spoolBytes);
            SidecarMetrics.SpoolQuota.Set(quota);
            SidecarMetrics.StaticMemory.Set(staticMemory);
            SidecarMetrics.RequestsInFlight.Set(inFlight);
            SidecarMetrics.UpstreamRequestsInFlight.Set(atUpstream);
            SidecarMetrics.Draining.Set(draining ? 1 : 0);
            SidecarMetrics.ThreadPoolThreads.Set(ThreadPool.ThreadCount);
            SidecarMetrics.ThreadPoolCompletedItems.IncTo(ThreadPool.CompletedWorkItemCount);
            if (Live.Count > 0)
            {
                SidecarMetrics.ConfigLastSuccess.Set(lastApplied);
            }

            // The info metric carries only the hash in force: a replaced hash's series is removed, not left at 1.
            foreach (var stale in PublishedHashes.Where(h => !hashes.Contains(h)).ToList())
            {
                SidecarMetrics.ConfigInfo.RemoveLabelled(stale);
                PublishedHashes.Remove(stale);
            }

            foreach (var hash in hashes)
            {
                SidecarMetrics.ConfigInfo.WithLabels(hash).Set(1);
                PublishedHashes.Add(hash);
            }
        }
    }

    private void AdvanceCounters()
    {
        Advance(SidecarMetrics.SpoolFiles, _spool.FilesCreated, ref _seenFiles);
        Advance(SidecarMetrics.SpoolWrittenBytes, _spool.BytesWritten, ref _seenWritten);
        Advance(SidecarMetrics.ConfigReloads.WithLabels("applied"), _config.Applied, ref _seenApplied);
        Advance(SidecarMetrics.ConfigReloads.WithLabels("rejected"), _config.Rejected, ref _seenRejected);
        Advance(SidecarMetrics.ConfigRestartRequired, _config.RestartRequired, ref _seenRestartRequired);
    }

    private static void Advance(ICounter counter, long current, ref long seen)
    {
        if (current > seen)
        {
            counter.Inc(current - seen);
            seen = current;
        }
    }

    public void Dispose()
    {
        lock (Gate)
        {
            // What happened since the last scrape still counts.
            AdvanceCounters();
            Live.Remove(this);
        }
    }
}
