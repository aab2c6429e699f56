using Sidecar.Configuration;
using Sidecar.Forwarding;
using Sidecar.Logging;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Sidecar.Admission;

/// <summary>
/// Adds <c>X-Request-Start: t=&lt;microseconds since the epoch&gt;</c>, the moment the sidecar received the
/// request, so APM agents in the app (New Relic, Scout, Datadog) report the time spent buffering and queueing
/// in front of gunicorn. A stamp from a trusted peer (an ingress that saw the request earlier) is kept, so the
/// reported queue time starts there; from anyone else it is replaced, as a client could claim any time.
/// </summary>
public sealed class RequestStartHeader(ConfigHolder config) : ITransformProvider
{
    public const string Name = "X-Request-Start";

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context) => context.AddRequestTransform(Stamp);

    private ValueTask Stamp(RequestTransformContext transform)
    {
        var settings = config.Settings;
        var http = transform.HttpContext;
        var peer = ForwardedHeaders.PeerAddress(http.Connection);
        var trusted = peer is not null && ForwardedHeaders.IsTrusted(peer, settings.TrustedNetworks);
        if (!settings.RequestStartHeader)
        {
            // Off, the sidecar stamps nothing, and a client's claim still does not reach the app's queue-time metrics.
            if (!trusted)
            {
                transform.ProxyRequest.Headers.Remove(Name);
            }

            return ValueTask.CompletedTask;
        }

        if (trusted && http.Request.Headers.ContainsKey(Name))
        {
            return ValueTask.CompletedTask;
        }

        var record = http.Features.Get<RequestRecord>();
        var received = DateTimeOffset.UtcNow - (record?.Elapsed ?? TimeSpan.Zero);
        var micros = (received - DateTimeOffset.UnixEpoch).Ticks / (TimeSpan.TicksPerMillisecond / 1000);
        var headers = transform.ProxyRequest.Headers;
        headers.Remove(Name);
        headers.TryAddWithoutValidation(Name, "t=" + micros.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return ValueTask.CompletedTask;
    }
}
