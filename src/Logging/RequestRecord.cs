using System.Diagnostics;

namespace Sidecar.Logging;

/// <summary>
/// What happened to one request, filled in by each stage (buffering, forwarding, static files) and read
/// at the end by the access log and the metrics. Stored as an HttpContext feature.
/// </summary>
public sealed class RequestRecord(long startTimestamp, string requestId)
{
    public long StartTimestamp { get; } = startTimestamp;

    public string RequestId { get; } = requestId;

    /// <summary>The YARP route id, or the static mount name; bounded, so safe as a metric label.</summary>
    public string? Route { get; set; }

    public long BytesIn { get; set; }

    /// <summary>Response body bytes, when the stage that produced the body knows them; otherwise Content-Length is used.</summary>
    public long? BytesOut { get; set; }

    public TimeSpan RequestBufferTime { get; set; }

    public TimeSpan ResponseBufferTime { get; set; }

    /// <summary>Timestamp when the request was handed to the upstream; 0 if it never was.</summary>
    public long UpstreamStart { get; set; }

    /// <summary>Timestamp when the upstream's response headers arrived.</summary>
    public long UpstreamHeaders { get; set; }

    /// <summary>Timestamp when the upstream's response body was fully read.</summary>
    public long UpstreamEnd { get; set; }

    /// <summary>Whether the request body or the response went to a temp file.</summary>
    public bool RequestSpooledToDisk { get; set; }

    public bool ResponseSpooledToDisk { get; set; }

    /// <summary>Time spent waiting for an upstream slot (admission queue); zero when not queued.</summary>
    public TimeSpan QueueWait { get; set; }

    /// <summary>Set when a static mount answered: the mount's name (bounded, safe as a metric label).</summary>
    public string? StaticMount { get; set; }

    /// <summary>The content coding a static response was sent with: "br", "gzip" or "identity".</summary>
    public string? StaticEncoding { get; set; }

    /// <summary>Bytes a static response saved by being sent compressed (identity length minus sent length).</summary>
    public long StaticBytesSaved { get; set; }

    /// <summary>Why the sidecar refused or failed the request (a <see cref="Rejection"/> name), null when it did not.</summary>
    public string? Rejection { get; set; }

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(StartTimestamp);

    /// <summary>
    /// Response body bytes as the access log and <c>sidecar_sent_bytes_total</c> report them: what the stage that produced
    /// the body counted, else the Content-Length; none for HEAD, whose Content-Length describes a body never sent
    /// (nginx's $body_bytes_sent is 0 there too).
    /// </summary>
    public long BodyBytesOut(HttpContext context) =>
        context.Request.Method == "HEAD" ? 0 : BytesOut ?? context.Response.ContentLength ?? 0;

    /// <summary>nginx's "client closed request": what the access log and metrics report for a client that went away before any response began.</summary>
    public const int ClientClosedRequest = 499;

    /// <summary>
    /// The status the access log and the metrics report. When the client left before any response began, the
    /// response's own status is meaningless (the default 200 for an upload cut short, YARP's 400 for a client that
    /// gave up waiting on the app) and would count a departure as a success or as the client's error; nginx logs 499.
    /// </summary>
    public int StatusFor(HttpResponse response) =>
        Rejection == Logging.Rejection.ClientAborted && !response.HasStarted ? ClientClosedRequest : response.StatusCode;

    public TimeSpan? UpstreamTime => UpstreamStart == 0 ? null
        : Stopwatch.GetElapsedTime(UpstreamStart, UpstreamEnd != 0 ? UpstreamEnd : UpstreamHeaders != 0 ? UpstreamHeaders : Stopwatch.GetTimestamp());

    public TimeSpan? UpstreamTimeToFirstByte => UpstreamStart == 0 || UpstreamHeaders == 0 ? null
        : Stopwatch.GetElapsedTime(UpstreamStart, UpstreamHeaders);
}

/// <summary>The reasons the sidecar itself answers instead of the app; used in logs and as a metric label.</summary>
public static class Rejection
{
    public const string BodyTooLarge = "body_too_large";
    public const string SlowBody = "slow_body";
    public const string Smuggling = "smuggling_shape";
    public const string MethodNotAllowed = "method_not_allowed";
    public const string SpoolFull = "spool_full";
    public const string UpstreamRefused = "upstream_refused";
    public const string UpstreamTimeout = "upstream_timeout";
    public const string UpstreamFailed = "upstream_failed";
    public const string ClientAborted = "client_aborted";
    public const string QueueFull = "queue_full";
    public const string QueueTimeout = "queue_timeout";
}
