using Yarp.ReverseProxy.Configuration;

namespace Sidecar.Configuration;

/// <summary>
/// The one validation every configuration passes before it is used, at start-up, on a reload and in
/// <c>--check-config</c>: the sidecar's own parsing (<see cref="ConfigLoader"/>, strict keys, units, route metadata,
/// at least one route, known clusters) followed by YARP's own route and cluster checks (<see cref="IConfigValidator"/>:
/// path patterns, headers, methods, transforms, destinations, policies). YARP would otherwise find those problems
/// only when applying the config, after the sidecar's settings had already changed.
/// </summary>
public sealed class ConfigValidation(IConfigValidator yarp)
{
    /// <summary>
    /// YARP's validator as <c>AddReverseProxy</c> registers it (keys in memory, as in the host), for <c>--check-config</c>,
    /// which has no web host. Start-up and reloads use the validator from the host's own container.
    /// </summary>
    public static ConfigValidation Standalone()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        Forwarding.ProxySetup.AddReverseProxyWithKeysInMemory(services);
        // The container lives as long as the process; start-up and --check-config each build one.
        var provider = services.BuildServiceProvider();
        return new ConfigValidation(provider.GetRequiredService<IConfigValidator>());
    }

    /// <summary>Loads the config file named by the environment (or defaults) and validates it completely.</summary>
    public async Task<SidecarConfig> LoadAsync(Func<string, string?> environment)
    {
        var config = ConfigLoader.Load(environment);
        await ValidateAsync(config);
        return config;
    }

    /// <summary>Parses file content and validates it completely; throws <see cref="ConfigException"/> listing every problem.</summary>
    public async Task<SidecarConfig> ParseAsync(byte[]? content, string? path, Func<string, string?> environment)
    {
        var config = ConfigLoader.Parse(content, path, environment);
        await ValidateAsync(config);
        return config;
    }

    /// <summary>Runs YARP's checks on every route and cluster, collecting all problems before failing.</summary>
    public async Task ValidateAsync(SidecarConfig config)
    {
        var problems = new List<string>();
        foreach (var route in config.Routes)
        {
            foreach (var error in await yarp.ValidateRouteAsync(route))
            {
                problems.Add($"ReverseProxy.Routes.{route.RouteId}: {Describe(error)}");
            }
        }

        foreach (var cluster in config.Clusters)
        {
            foreach (var error in await yarp.ValidateClusterAsync(cluster))
            {
                problems.Add($"ReverseProxy.Clusters.{cluster.ClusterId}: {Describe(error)}");
            }
        }

        if (problems.Count > 0)
        {
            throw new ConfigException(config.SourcePath ?? "environment", problems);
        }
    }

    /// <summary>YARP wraps the useful part (a bad route pattern, say) in an outer exception; users need both.</summary>
    private static string Describe(Exception error) =>
        error.InnerException is { } inner && !error.Message.Contains(inner.Message, StringComparison.Ordinal)
            ? $"{error.Message} ({inner.Message})"
            : error.Message;
}
