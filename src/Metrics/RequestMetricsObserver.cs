using Sidecar.Logging;

namespace Sidecar.Telemetry;

/// <summary>
/// Turns each finished request's <see cref="RequestRecord"/> into metric observations. Runs after the
/// response, on the request's thread, so it only does label lookups and atomic adds.
/// </summary>
internal sealed class RequestMetricsObserver : IRequestObserver
{
    public void OnCompleted(HttpContext context, RequestRecord record)
    {
        var route = RouteLabel(record);
        var status = context.Response.StatusCode;
        SidecarMetrics.Requests.WithLabels(route, MethodLabel(context.Request.Method), StatusClass(status)).Inc();
        SidecarMetrics.RequestDuration.WithLabels(route).Observe(record.Elapsed.TotalSeconds);

        if (record.UpstreamTimeToFirstByte is { } firstByte)
        {
            SidecarMetrics.UpstreamTimeToFirstByte.WithLabels(route).Observe(firstByte.TotalSeconds);
        }

        if (record.UpstreamTime is { } upstream)
        {
            SidecarMetrics.UpstreamDuration.WithLabels(route).Observe(upstream.TotalSeconds);
        }

        // Zero means nothing was buffered (no body, or buffering off for the route); observing those zeros
        // would drown the buffering times that matter.
        if (record.RequestBufferTime > TimeSpan.Zero)
        {
            SidecarMetrics.RequestBufferingDuration.WithLabels(route).Observe(record.RequestBufferTime.TotalSeconds);
        }

        if (record.ResponseBufferTime > TimeSpan.Zero)
        {
            SidecarMetrics.ResponseBufferingDuration.WithLabels(route).Observe(record.ResponseBufferTime.TotalSeconds);
        }

        // Unbuffered bodies stream through without being counted; their declared length is the best figure,
        // unless the request was refused, in which case the body was not (fully) read.
        var received = record.BytesIn > 0 ? record.BytesIn
            : record.Rejection is null ? context.Request.ContentLength ?? 0
            : 0;
        if (received > 0)
        {
            SidecarMetrics.ReceivedBytes.WithLabels(route).Inc(received);
        }

        var sent = record.BytesOut ?? context.Response.ContentLength ?? 0;
        if (sent > 0)
        {
            SidecarMetrics.SentBytes.WithLabels(route).Inc(sent);
        }

        if (record.RequestSpooledToDisk)
        {
            SidecarMetrics.SpooledToDisk.WithLabels("request").Inc();
        }

        if (record.ResponseSpooledToDisk)
        {
            SidecarMetrics.SpooledToDisk.WithLabels("response").Inc();
        }

        switch (record.Rejection)
        {
            case null:
                break;
            case Rejection.ClientAborted:
                SidecarMetrics.ClientAborts.WithLabels(route).Inc();
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

    /// <summary>Route id or static mount; "none" when the request was refused before a route was chosen.</summary>
    internal static string RouteLabel(RequestRecord record) => record.Route ?? record.StaticMount ?? "none";

    /// <summary>Methods outside the standard set collapse to "_OTHER", as ASP.NET Core's own metrics do, so a client cannot mint labels.</summary>
    internal static string MethodLabel(string method) => method switch
    {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "_OTHER",
    };

    internal static string StatusClass(int status) => status switch
    {
        >= 100 and < 200 => "1xx",
        >= 200 and < 300 => "2xx",
        >= 300 and < 400 => "3xx",
        >= 400 and < 500 => "4xx",
        >= 500 and < 600 => "5xx",
        _ => "other",
    };
}
