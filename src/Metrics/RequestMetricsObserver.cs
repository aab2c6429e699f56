using System.Collections.Concurrent;
using Prometheus;
using Sidecar.Logging;

namespace Sidecar.Telemetry;

/// <summary>
/// Turns each finished request's <see cref="RequestRecord"/> into metric observations. Runs after the
/// response, on the request's thread; each route's series are resolved once and kept, so a request costs
/// array lookups and atomic adds, not label lookups.
/// </summary>
public sealed class RequestMetricsObserver : IRequestObserver
{
    private static readonly string[] Methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "_OTHER"];
    private static readonly string[] StatusClasses = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

    private readonly ConcurrentDictionary<string, RouteSeries> _routes = new(StringComparer.Ordinal);

    public void OnCompleted(HttpContext context, RequestRecord record)
    {
        var route = RouteLabel(record);
        var series = _routes.GetOrAdd(route, static name => new RouteSeries(name));
        series.Requests(MethodIndex(context.Request.Method), StatusClassIndex(record.StatusFor(context.Response))).Inc();
        series.Duration.Observe(record.Elapsed.TotalSeconds);

        if (record.UpstreamTimeToFirstByte is { } firstByte)
        {
            series.UpstreamFirstByte.Observe(firstByte.TotalSeconds);
        }

        if (record.UpstreamTime is { } upstream)
        {
            series.Upstream.Observe(upstream.TotalSeconds);
        }

        // Zero means nothing was buffered (no body, or buffering off for the route); observing those zeros
        // would drown the buffering times that matter.
        if (record.RequestBufferTime > TimeSpan.Zero)
        {
            series.RequestBuffering.Observe(record.RequestBufferTime.TotalSeconds);
        }

        if (record.ResponseBufferTime > TimeSpan.Zero)
        {
            series.ResponseBuffering.Observe(record.ResponseBufferTime.TotalSeconds);
        }

        // Unbuffered bodies stream through without being counted; their declared length is the best figure,
        // unless the request was refused, in which case the body was not (fully) read.
        var received = record.BytesIn > 0 ? record.BytesIn
            : record.Rejection is null ? context.Request.ContentLength ?? 0
            : 0;
        if (received > 0)
        {
            series.Received.Inc(received);
        }

        var sent = record.BodyBytesOut(context);
        if (sent > 0)
        {
            series.Sent.Inc(sent);
        }

        if (record.RequestSpooledToDisk)
        {
            SpooledRequests.Inc();
        }

        if (record.ResponseSpooledToDisk)
        {
            SpooledResponses.Inc();
        }

        switch (record.Rejection)
        {
            case null:
                break;
            case Rejection.ClientAborted:
                series.ClientAborts.Inc();
                break;
            case Rejection.SlowBody:
                // Kestrel ends the connection for the same stall and ConnectionRejections counts it there, which
                // also covers unbuffered routes where no request-level stage sees it.
                break;
            default:
                SidecarMetrics.Rejections.WithLabels(record.Rejection).Inc();
                break;
        }
    }

    private static readonly Counter.Child SpooledRequests = SidecarMetrics.SpooledToDisk.WithLabels("request");
    private static readonly Counter.Child SpooledResponses = SidecarMetrics.SpooledToDisk.WithLabels("response");

    /// <summary>Route id or static mount; "none" when the request was refused before a route was chosen.</summary>
    internal static string RouteLabel(RequestRecord record) => record.Route ?? record.StaticMount ?? "none";

    /// <summary>
    /// A request the HTTP server refused before the pipeline (<see cref="Logging.RefusedRequestLog"/>): no route and no
    /// trusted method yet, but answered on the application port, so error ratios built on the request counter see it.
    /// </summary>
    internal static void CountRefused(int status) =>
        SidecarMetrics.Requests.WithLabels("none", Methods[^1], StatusClasses[StatusClassIndex(status)]).Inc();

    /// <summary>Methods outside the standard set collapse to "_OTHER", as ASP.NET Core's own metrics do, so a client cannot mint labels.</summary>
    private static int MethodIndex(string method) => method switch
    {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "PATCH" => 5,
        "OPTIONS" => 6,
        "TRACE" => 7,
        "CONNECT" => 8,
        _ => 9,
    };

    private static int StatusClassIndex(int status) => status is >= 100 and < 600 ? status / 100 - 1 : 5;

    /// <summary>One route's children of every per-route family, created on first use.</summary>
    private sealed class RouteSeries(string route)
    {
        private readonly Counter.Child?[] _requests = new Counter.Child?[Methods.Length * StatusClasses.Length];

        public Histogram.Child Duration { get; } = SidecarMetrics.RequestDuration.WithLabels(route);
        public Histogram.Child UpstreamFirstByte { get; } = SidecarMetrics.UpstreamTimeToFirstByte.WithLabels(route);
        public Histogram.Child Upstream { get; } = SidecarMetrics.UpstreamDuration.WithLabels(route);
        public Histogram.Child RequestBuffering { get; } = SidecarMetrics.RequestBufferingDuration.WithLabels(route);
        public Histogram.Child ResponseBuffering { get; } = SidecarMetrics.ResponseBufferingDuration.WithLabels(route);
        public Counter.Child Received { get; } = SidecarMetrics.ReceivedBytes.WithLabels(route);
        public Counter.Child Sent { get; } = SidecarMetrics.SentBytes.WithLabels(route);
        public Counter.Child ClientAborts { get; } = SidecarMetrics.ClientAborts.WithLabels(route);

        public Counter.Child Requests(int method, int statusClass)
        {
            ref var slot = ref _requests[method * StatusClasses.Length + statusClass];
            return slot ??= SidecarMetrics.Requests.WithLabels(route, Methods[method], StatusClasses[statusClass]);
        }
    }
}
