using System.Runtime.CompilerServices;
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

    private static readonly ConditionalWeakTable<ClusterConfig, Cached> Cache = new();

    /// <summary>
    /// The policy of a live cluster. Cached per cluster object and per settings object: a reload that changes
    /// only the global settings keeps YARP's (unchanged) cluster object, so the settings must be part of the key.
    /// </summary>
    public static ClusterPolicy For(ClusterConfig cluster, SidecarSettings settings)
    {
        if (Cache.TryGetValue(cluster, out var cached) && ReferenceEquals(cached.Settings, settings))
        {
            return cached.Policy;
        }

        var policy = Parse(cluster, settings, problems: null);
        Cache.AddOrUpdate(cluster, new Cached(settings, policy));
        return policy;
    }

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

    private sealed record Cached(SidecarSettings Settings, ClusterPolicy Policy);
}
