using Yarp.ReverseProxy.Configuration;

namespace Sidecar.Configuration;

/// <summary>
/// The sidecar's per-cluster admission limits, read from cluster Metadata keys prefixed <c>Sidecar.</c>
/// (for example <c>"Metadata": { "Sidecar.MaxConcurrency": "4" }</c> for a cluster whose gunicorn runs 4 workers).
/// A key a cluster does not set falls back to the global setting: MaxConcurrency to UpstreamConcurrency,
/// QueueLength and QueueTimeout to the settings of the same name.
/// </summary>
public sealed record ClusterPolicy(int MaxConcurrency, int QueueLength, TimeSpan QueueTimeout)
{
    /// <summary>The metadata keys a cluster may set.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["MaxConcurrency", "QueueLength", "QueueTimeout"];

    private static readonly PolicyCache<ClusterConfig, ClusterPolicy> Cache = new((cluster, settings) => Parse(cluster, settings, problems: null));

    /// <summary>The policy of a live cluster, parsed once per cluster object and settings object.</summary>
    public static ClusterPolicy For(ClusterConfig cluster, SidecarSettings settings) => Cache.For(cluster, settings);

    /// <summary>Parses a cluster's metadata, adding each problem (naming cluster and key) to <paramref name="problems"/>.</summary>
    public static ClusterPolicy Parse(ClusterConfig cluster, SidecarSettings settings, List<string>? problems) =>
        SidecarMetadata.Read(cluster.Metadata, new ClusterPolicy(settings.UpstreamConcurrency, settings.QueueLength, settings.QueueTimeout),
            $"ReverseProxy.Clusters.{cluster.ClusterId}", Keys, static (policy, name, value) => name switch
            {
                "maxconcurrency" => policy with { MaxConcurrency = Units.ParseCount(value) },
                "queuelength" => policy with { QueueLength = Units.ParseCount(value) },
                "queuetimeout" => policy with { QueueTimeout = Units.ParsePositiveDuration(value) },
                _ => null,
            }, problems);
}
