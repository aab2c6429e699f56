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
        var before = problems.Count;

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
                            if (string.Equals(id, DefaultClusterId, StringComparison.OrdinalIgnoreCase))
                            {
                                named = AtUpstream(named, settings, problems);
                            }

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
            clusters.Add(WithSidecarDefaults(AtUpstream(new ClusterConfig { ClusterId = DefaultClusterId }, settings, problems), settings));
        }

        if (problems.Count == before)
        {
            CheckConsistency(routes, clusters, problems);
        }

        return (routes, clusters);
    }

    /// <summary>
    /// What YARP would accept but no user means: a routing table that answers every request with 404 (the classic
    /// result of a half-loaded ConfigMap), a route whose cluster does not exist (503 on every request it matches),
    /// and ids that differ only in case (YARP compares ids case-insensitively, so one would silently replace the other).
    /// </summary>
    private static void CheckConsistency(List<RouteConfig> routes, List<ClusterConfig> clusters, List<string> problems)
    {
        if (routes.Count == 0)
        {
            problems.Add("ReverseProxy.Routes: no routes, so every request would get 404; add a route, or remove the ReverseProxy section to send everything to Upstream");
        }

        ReportDuplicates(routes.Select(r => r.RouteId), "ReverseProxy.Routes", problems);
        ReportDuplicates(clusters.Select(c => c.ClusterId), "ReverseProxy.Clusters", problems);

        foreach (var cluster in clusters)
        {
            if (cluster.Destinations is not { Count: > 0 })
            {
                problems.Add($"ReverseProxy.Clusters.{cluster.ClusterId}: no Destinations, so every request routed to it would get 503; add one such as {{ \"app\": {{ \"Address\": \"http://127.0.0.1:8001\" }} }}");
                continue;
            }

            foreach (var (name, destination) in cluster.Destinations)
            {
                if (!Uri.TryCreate(destination.Address, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https") || address.Host.Length == 0)
                {
                    problems.Add($"ReverseProxy.Clusters.{cluster.ClusterId}.Destinations.{name}.Address: '{destination.Address}' is not an upstream address; expected http://host:port, e.g. http://127.0.0.1:8001");
                }
            }
        }

        var known = clusters.Select(c => c.ClusterId).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var route in routes)
        {
            if (string.IsNullOrWhiteSpace(route.ClusterId))
            {
                problems.Add($"ReverseProxy.Routes.{route.RouteId}: ClusterId is missing; name the cluster to send matching requests to (for example \"{DefaultClusterId}\")");
            }
            else if (!known.Contains(route.ClusterId))
            {
                problems.Add($"ReverseProxy.Routes.{route.RouteId}: ClusterId '{route.ClusterId}' names no cluster (known: {string.Join(", ", known.Order(StringComparer.Ordinal))})");
            }

            ReportKeysWithoutMiddleware(route, problems);
        }
    }

    /// <summary>
    /// Route keys that YARP hands to ASP.NET Core middleware the sidecar does not run. Left in, they fail every
    /// matching request with 500 (authorization, CORS, Timeout) or are silently not applied (rate limiting,
    /// output caching, body size), so each is refused with what to do instead.
    /// </summary>
    private static void ReportKeysWithoutMiddleware(RouteConfig route, List<string> problems)
    {
        var at = $"ReverseProxy.Routes.{route.RouteId}";
        if (route.AuthorizationPolicy is not null)
        {
            problems.Add($"{at}.AuthorizationPolicy: the sidecar authenticates no one, so it cannot apply an authorization policy; check access in the app and remove this key");
        }

        if (route.CorsPolicy is not null)
        {
            problems.Add($"{at}.CorsPolicy: the sidecar does not answer CORS; let the app send CORS headers (django-cors-headers, flask-cors) and remove this key");
        }

        if (route.RateLimiterPolicy is not null)
        {
            problems.Add($"{at}.RateLimiterPolicy: the sidecar has no rate limiter; cap requests to the app with the cluster's \"Sidecar.MaxConcurrency\" metadata and remove this key");
        }

        if (route.OutputCachePolicy is not null)
        {
            problems.Add($"{at}.OutputCachePolicy: the sidecar does not cache app responses (the app's Cache-Control reaches the client and any CDN); remove this key");
        }

        if (route.Timeout is not null || route.TimeoutPolicy is not null)
        {
            var key = route.Timeout is not null ? "Timeout" : "TimeoutPolicy";
            problems.Add($"{at}.{key}: set a route's timeout with \"Metadata\": {{ \"Sidecar.UpstreamTimeout\": \"5m\" }} instead; YARP's {key} needs request-timeout middleware the sidecar does not run");
        }

        if (route.MaxRequestBodySize is not null)
        {
            problems.Add($"{at}.MaxRequestBodySize: the sidecar buffers bodies and applies its own limit; set it with \"Metadata\": {{ \"Sidecar.MaxBodySize\": \"200m\" }} instead");
        }
    }

    private static void ReportDuplicates(IEnumerable<string> ids, string path, List<string> problems)
    {
        foreach (var group in ids.GroupBy(id => id, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            problems.Add($"{path}: the id '{group.Key}' appears {group.Count()} times (ids are compared ignoring case)");
        }
    }

    /// <summary>
    /// The <c>upstream</c> cluster always sends to <c>Upstream</c>. The file may tune it (Metadata, HttpRequest, health
    /// checks) but not point it elsewhere: its own Destinations silently overrode SIDECAR_UPSTREAM, against the rule
    /// that the environment wins, so one ConfigMap edit could move every Pod's traffic to another backend.
    /// </summary>
    private static ClusterConfig AtUpstream(ClusterConfig cluster, SidecarSettings settings, List<string> problems)
    {
        if (cluster.Destinations is { Count: > 0 })
        {
            problems.Add($"ReverseProxy.Clusters.{cluster.ClusterId}.Destinations: the '{DefaultClusterId}' cluster always sends to Upstream (SIDECAR_UPSTREAM or Sidecar.Upstream); remove its Destinations, or give a cluster with other destinations another name");
        }

        var metadata = new Dictionary<string, string>(cluster.Metadata ?? new Dictionary<string, string>());
        if (settings.UpstreamSocket is { } socket)
        {
            metadata[Forwarding.UpstreamConnector.UnixSocketMetadataKey] = socket;
        }

        return cluster with
        {
            Destinations = new Dictionary<string, DestinationConfig> { ["app"] = new() { Address = settings.Upstream.ToString() } },
            Metadata = metadata.Count > 0 ? metadata : null,
        };
    }

    /// <summary>
    /// gunicorn speaks HTTP/1.1 only, and its timeout should fire before ours: fill in what a user did not set,
    /// never override what they did. Response buffering is allowed because the sidecar decides per response
    /// (<see cref="Buffering.ResponseBuffering"/>): otherwise YARP turns it off for every response, and dynamic
    /// compression flushes on every write, which made a chunked page larger gzipped than plain.
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
                AllowResponseBuffering = request.AllowResponseBuffering ?? true,
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
            var where = $"{path}.{entry.Name}";
            var before = problems.Count;
            JsonShape.Check(entry.Value, typeInfo, where, problems);
            if (problems.Count > before)
            {
                continue;
            }

            T? value = null;
            try
            {
                value = entry.Value.Deserialize(typeInfo);
            }
            catch (JsonException e)
            {
                // JsonShape knows the common shapes; this is the serializer's last word on anything else.
                problems.Add($"{where}: value not accepted{(e.Path is { Length: > 1 } p ? " at " + p.TrimStart('$', '.') : "")}");
            }

            if (value is not null)
            {
                yield return (entry.Name, value);
            }
            else if (problems.Count == before)
            {
                problems.Add($"{where}: expected an object, found null");
            }
        }
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
