using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Sidecar.Configuration;

/// <summary>
/// Applies a route's <c>Sidecar.UpstreamTimeout</c>. YARP's timeout (<c>HttpRequest.ActivityTimeout</c>) belongs to
/// the cluster, and deriving a cluster per route would split connection pools and health state. Instead, for a
/// request on such a route, the request's view of its cluster is swapped for a copy that differs only in the timeout
/// and shares the cluster's HTTP client; YARP's forwarder reads the timeout from that per-request view.
/// </summary>
public sealed class RouteUpstreamTimeout(RequestDelegate next, ConfigHolder config)
{
    // Keyed by the live cluster model: a reload that changes the cluster brings a new model, and the old variants go with it.
    private static readonly ConditionalWeakTable<ClusterModel, ConcurrentDictionary<TimeSpan, ClusterModel>> Variants = new();

    public Task InvokeAsync(HttpContext context)
    {
        var feature = context.GetReverseProxyFeature();
        var timeout = RoutePolicy.For(feature.Route.Config, config.Settings).UpstreamTimeout;
        if (timeout is { } wanted && feature.Cluster is { } cluster && cluster.Config.HttpRequest?.ActivityTimeout != wanted)
        {
            // The same swap YARP's own ReassignProxyRequest makes: a new feature, everything but the cluster view kept.
            context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature
            {
                Route = feature.Route,
                Cluster = Variants.GetValue(cluster, _ => new()).GetOrAdd(wanted, WithTimeout, cluster),
                AllDestinations = feature.AllDestinations,
                AvailableDestinations = feature.AvailableDestinations,
                ProxiedDestination = feature.ProxiedDestination,
            });
        }

        return next(context);
    }

    private static ClusterModel WithTimeout(TimeSpan timeout, ClusterModel cluster)
    {
        var request = cluster.Config.HttpRequest ?? ForwarderRequestConfig.Empty;
        return new ClusterModel(cluster.Config with { HttpRequest = request with { ActivityTimeout = timeout } }, cluster.HttpClient);
    }
}
