using Yarp.ReverseProxy.Configuration;

namespace Sidecar.Configuration;

/// <summary>A complete, validated configuration: sidecar settings plus the routing handed to YARP.</summary>
public sealed record SidecarConfig(
    SidecarSettings Settings,
    IReadOnlyList<RouteConfig> Routes,
    IReadOnlyList<ClusterConfig> Clusters,
    string Hash,
    string? SourcePath);

/// <summary>Thrown when a configuration has problems; <see cref="Problems"/> lists every one, each naming its key.</summary>
public sealed class ConfigException(string source, IReadOnlyList<string> problems)
    : Exception($"{source}: {string.Join("; ", problems)}")
{
    public string ConfigSource { get; } = source;

    public IReadOnlyList<string> Problems { get; } = problems;
}
