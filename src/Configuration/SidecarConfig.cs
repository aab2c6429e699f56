using Yarp.ReverseProxy.Configuration;

namespace Sidecar.Configuration;

/// <summary>A complete, validated configuration: sidecar settings plus the routing handed to YARP.</summary>
public sealed record SidecarConfig(
    SidecarSettings Settings,
    IReadOnlyList<RouteConfig> Routes,
    IReadOnlyList<ClusterConfig> Clusters,
    string Hash,
    string? SourcePath)
{
    /// <summary>
    /// The text each setting was resolved from (environment, file or default), keyed by file key. A reload compares
    /// these to find changes to settings that only take effect after a restart, and re-applies them to keep those as they run.
    /// </summary>
    public IReadOnlyDictionary<string, string> Values { get; init; } = new Dictionary<string, string>();

    /// <summary>Things that are valid but probably not what the user meant; logged at start and on reload, printed by --check-config.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>The cluster with this id (YARP compares ids without regard to case), or null.</summary>
    public ClusterConfig? FindCluster(string? clusterId)
    {
        foreach (var cluster in Clusters)
        {
            if (string.Equals(cluster.ClusterId, clusterId, StringComparison.OrdinalIgnoreCase))
            {
                return cluster;
            }
        }

        return null;
    }
}

/// <summary>Thrown when a configuration has problems; <see cref="Problems"/> lists every one, each naming its key.</summary>
public sealed class ConfigException(string source, IReadOnlyList<string> problems)
    : Exception($"{source}: {string.Join("; ", problems)}")
{
    public string ConfigSource { get; } = source;

    public IReadOnlyList<string> Problems { get; } = problems;
}
