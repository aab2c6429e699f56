using System.Text.Json;
using System.Text.Json.Serialization;
using Yarp.ReverseProxy.Configuration;

namespace Sidecar.Configuration;

/// <summary>
/// Reads YARP's own <c>ReverseProxy</c> section (Routes and Clusters keyed by id, exactly as YARP documents it)
/// into YARP's config records. Unknown or misspelled keys are errors rather than silently ignored, which is
/// stricter than YARP's IConfiguration reader and is what makes a typo in a ConfigMap visible.
/// </summary>
public static class ProxyConfigReader
{
    public const string DefaultClusterId = "upstream";
    public const string DefaultRouteId = "default";

    public static (IReadOnlyList<RouteConfig> Routes, IReadOnlyList<ClusterConfig> Clusters) Read(
        JsonElement? section, SidecarSettings settings, List<string> problems)
    {
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();

        if (section is { } proxy)
        {
            if (proxy.ValueKind != JsonValueKind.Object)
            {
                problems.Add("ReverseProxy: must be an object with Routes and Clusters");
                return (routes, clusters);
            }

            foreach (var property in proxy.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "Routes":
                        foreach (var (id, route) in ReadMap(property.Value, ProxyJsonContext.Default.RouteConfig, "ReverseProxy.Routes", problems))
                        {
                            var named = route with { RouteId = id };
                            RoutePolicy.Parse(named, settings, problems);
                            routes.Add(named);
                        }

                        break;
                    case "Clusters":
                        foreach (var (id, cluster) in ReadMap(property.Value, ProxyJsonContext.Default.ClusterConfig, "ReverseProxy.Clusters", problems))
                        {
                            var named = cluster with { ClusterId = id };
                            ClusterPolicy.Parse(named, settings, problems);
                            clusters.Add(WithSidecarDefaults(named, settings));
                        }

                        break;
                    default:
                        problems.Add($"ReverseProxy: unknown key '{property.Name}' (expected Routes, Clusters)");
                        break;
                }
            }
        }
        else
        {
            routes.Add(new RouteConfig
            {
                RouteId = DefaultRouteId,
                ClusterId = DefaultClusterId,
                Match = new RouteMatch { Path = "/{**catch-all}" },
            });
        }

        // The upstream cluster always exists so routes can say "ClusterId": "upstream" without repeating SIDECAR_UPSTREAM.
        if (!clusters.Any(c => string.Equals(c.ClusterId, DefaultClusterId, StringComparison.OrdinalIgnoreCase)))
        {
            clusters.Add(WithSidecarDefaults(new ClusterConfig
            {
                ClusterId = DefaultClusterId,
                Destinations = new Dictionary<string, DestinationConfig>
                {
                    ["app"] = new() { Address = settings.Upstream.ToString() },
                },
            }, settings));
        }

        return (routes, clusters);
    }

    /// <summary>
    /// gunicorn speaks HTTP/1.1 only, and its timeout should fire before ours: fill in what a user did not set,
    /// never override what they did.
    /// </summary>
    private static ClusterConfig WithSidecarDefaults(ClusterConfig cluster, SidecarSettings settings)
    {
        var request = cluster.HttpRequest ?? new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig();
        return cluster with
        {
            HttpRequest = request with
            {
                Version = request.Version ?? System.Net.HttpVersion.Version11,
                VersionPolicy = request.VersionPolicy ?? HttpVersionPolicy.RequestVersionOrLower,
                ActivityTimeout = request.ActivityTimeout ?? settings.UpstreamTimeout,
            },
        };
    }

    private static IEnumerable<(string Id, T Value)> ReadMap<T>(
        JsonElement element, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo, string path, List<string> problems)
        where T : class
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{path}: must be an object keyed by id");
            yield break;
        }

        foreach (var entry in element.EnumerateObject())
        {
            T? value = null;
            try
            {
                value = entry.Value.Deserialize(typeInfo);
            }
            catch (JsonException e)
            {
                problems.Add($"{path}.{entry.Name}: {Describe(e)}");
            }

            if (value is not null)
            {
                yield return (entry.Name, value);
            }
        }
    }

    private static string Describe(JsonException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        var text = cut > 0 ? message[..cut] : message;
        return e.Path is { Length: > 1 } p ? $"{text} (at {p.TrimStart('$', '.')})" : text;
    }
}

[JsonSourceGenerationOptions(
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    NumberHandling = JsonNumberHandling.AllowReadingFromString,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UseStringEnumConverter = true)]
[JsonSerializable(typeof(RouteConfig))]
[JsonSerializable(typeof(ClusterConfig))]
internal sealed partial class ProxyJsonContext : JsonSerializerContext;
