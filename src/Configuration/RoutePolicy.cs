using Yarp.ReverseProxy.Configuration;

namespace Sidecar.Configuration;

/// <summary>
/// The sidecar's per-route settings, read from route Metadata keys prefixed <c>Sidecar.</c>
/// (for example <c>"Metadata": { "Sidecar.MaxBodySize": "200m", "Sidecar.ResponseBuffering": "off" }</c>).
/// A key a route does not set falls back to the global setting of the same name; an unset
/// <see cref="UpstreamTimeout"/> leaves the cluster's own timeout (its <c>HttpRequest.ActivityTimeout</c>,
/// by default the global <c>UpstreamTimeout</c>) in force.
/// </summary>
public sealed record RoutePolicy(bool RequestBuffering, bool ResponseBuffering, long MaxBodySize, TimeSpan? UpstreamTimeout = null)
{
    public const string Prefix = SidecarMetadata.Prefix;

    /// <summary>The metadata keys a route may set, each named like the global setting it overrides.</summary>
    public static IReadOnlyList<string> Keys { get; } = ["RequestBuffering", "ResponseBuffering", "MaxBodySize", "UpstreamTimeout"];

    private static readonly PolicyCache<RouteConfig, RoutePolicy> Cache = new((route, settings) => Parse(route, settings, problems: null));

    /// <summary>The policy of a live route, parsed once per route object and settings object.</summary>
    public static RoutePolicy For(RouteConfig route, SidecarSettings settings) => Cache.For(route, settings);

    /// <summary>Parses a route's metadata, adding each problem (naming route and key) to <paramref name="problems"/>.</summary>
    public static RoutePolicy Parse(RouteConfig route, SidecarSettings settings, List<string>? problems) =>
        SidecarMetadata.Read(route.Metadata, new RoutePolicy(settings.RequestBuffering, settings.ResponseBuffering, settings.MaxBodySize),
            $"ReverseProxy.Routes.{route.RouteId}", Keys, static (policy, name, value) => name switch
            {
                "requestbuffering" => policy with { RequestBuffering = Units.ParseBool(value) },
                "responsebuffering" => policy with { ResponseBuffering = Units.ParseBool(value) },
                "maxbodysize" => policy with { MaxBodySize = Units.ParseSize(value) },
                "upstreamtimeout" => policy with { UpstreamTimeout = Units.ParsePositiveDuration(value) },
                _ => null,
            }, problems);
}
