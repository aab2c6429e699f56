using System.Diagnostics.Metrics;
using Prometheus;

namespace Sidecar.Telemetry;

/// <summary>
/// What prometheus-net's adapters export from .NET itself. Since .NET 8 the runtime and Kestrel publish Meters,
/// and the older EventCounters carry the same numbers again; the EventCounter adapter is therefore switched off
/// and the Meter adapter limited to instruments the sidecar's own families do not already cover and whose tags
/// are bounded (Kestrel's: local address and port, protocol, error type).
/// </summary>
internal static class RuntimeMeters
{
    private static readonly HashSet<string> ExcludedRuntimeInstruments =
    [
        // Exported by prometheus-net's process collector under the conventional names
        // process_cpu_seconds_total, process_working_set_bytes and dotnet_collection_count_total.
        "dotnet.process.cpu.time",
        "dotnet.process.memory.working_set",
        "dotnet.gc.collections",
        // The adapter would name these *_count, which Prometheus reserves for histogram and summary series
        // (promtool rejects them); the thread pool figures are exported as sidecar_thread_pool_* instead.
        "dotnet.thread_pool.thread.count",
        "dotnet.thread_pool.work_item.count",
        "dotnet.timer.count",
        "dotnet.assembly.count",
        "dotnet.process.cpu.count",
    ];

    /// <summary>Must run before the first collection: prometheus-net applies these options when the default registry is first collected.</summary>
    public static void Configure()
    {
        Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
        {
            SuppressEventCounters = true,
            SuppressMeters = false,
            SuppressProcessMetrics = false,
            SuppressDebugMetrics = false,
        });
        Metrics.ConfigureMeterAdapter(options =>
        {
            options.InstrumentFilterPredicate = IsExported;
            options.ResolveHistogramBuckets = BucketsFor;
            // Label sets are bounded, so expiring idle series buys nothing; it would only make a rarely-seen
            // series (an error type) vanish and restart from zero.
            options.MetricsExpireAfter = TimeSpan.FromDays(1);
        });
    }

    /// <summary>
    /// prometheus-net starts its adapters lazily at the first scrape. Up/down counters such as
    /// kestrel.active_connections are exported as running sums of +1/-1, so a connection opened before the
    /// adapter listened and closed after would leave them negative; collecting once at start-up, before Kestrel
    /// accepts anything, avoids that.
    /// </summary>
    public static void StartAdapters() =>
        Metrics.DefaultRegistry.CollectAndExportAsTextAsync(Stream.Null).GetAwaiter().GetResult();

    internal static bool IsExported(Instrument instrument) => instrument.Meter.Name switch
    {
        "System.Runtime" => !ExcludedRuntimeInstruments.Contains(instrument.Name),
        "Microsoft.AspNetCore.Server.Kestrel" => true,
        // System.Net.Http is left out on purpose: its http.client.* instruments label server.address and
        // server.port from the Host header, which the sidecar forwards from the client, so any client could
        // create new series. Upstream load is measured by sidecar_upstream_* instead.
        // Hosting's request metrics would duplicate sidecar_request_duration_seconds without route ids and
        // include the admin port's scrapes; routing, diagnostics and memory pool say little about a proxy.
        _ => false,
    };

    /// <summary>The instrument's own advice when it gives one (Kestrel's histograms do), else the sidecar's duration buckets.</summary>
    private static double[] BucketsFor(Instrument instrument) =>
        instrument is Histogram<double> { Advice.HistogramBucketBoundaries: { Count: > 0 } advised }
            ? advised.ToArray()
            : SidecarMetrics.DurationBuckets;
}
