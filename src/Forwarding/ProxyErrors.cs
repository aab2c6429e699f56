using Sidecar.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Sidecar.Forwarding;

/// <summary>
/// Short plain-text answers for everything the sidecar refuses or fails, each with a log line naming the cause.
/// YARP writes bare status codes; users replacing nginx expect a message they can act on.
/// </summary>
public static class ProxyErrors
{
    /// <param name="retryAfter">For answers that only mean "not now" (a full queue): when a retry may succeed.</param>
    public static async Task WriteAsync(HttpContext context, int status, string rejection, string message, ILogger logger, TimeSpan? retryAfter = null)
    {
        var record = context.Features.Get<RequestRecord>();
        if (record is not null)
        {
            record.Rejection = rejection;
        }

        if (context.Response.HasStarted)
        {
            // The client already has a status (a 200 stream, a 101 upgrade): the line says what it got, then the cut.
            logger.LogWarning("{Status} {Method} {Path} cut off after the response began ({Rejection}): {Message} [request {RequestId}]",
                context.Response.StatusCode, context.Request.Method, context.Request.Path.Value, rejection, message, record?.RequestId);
            context.Abort();
            return;
        }

        logger.LogWarning("{Status} {Method} {Path} ({Rejection}): {Message} [request {RequestId}]",
            status, context.Request.Method, context.Request.Path.Value, rejection, message, record?.RequestId);

        ClearForAnswer(context, status);
        var settings = context.RequestServices.GetRequiredService<Configuration.ConfigHolder>().Settings;

        if (retryAfter is { } delay)
        {
            context.Response.Headers.RetryAfter = ((long)Math.Ceiling(delay.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var page = ErrorPages.Find(context, settings.ErrorPages, status, logger);
        context.Response.ContentType = page is null ? "text/plain; charset=utf-8" : "text/html; charset=utf-8";
        // A length instead of chunking: one write, and the access log's bytes_out is the body's size.
        var body = page ?? System.Text.Encoding.UTF8.GetBytes($"{status} {ReasonPhrase(status)}: {message}\n");
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body);
    }

    /// <summary>
    /// Drops what a stage had prepared (headers, status) for an answer of the sidecar's own, keeping the two headers that
    /// belong to the exchange rather than to that answer: the request id, and a "Connection: close" the caller set
    /// because the request's framing cannot be trusted (smuggling shapes, oversized bodies).
    /// </summary>
    public static void ClearForAnswer(HttpContext context, int status)
    {
        var response = context.Response;
        var connection = response.Headers.Connection;
        response.Clear();
        response.Headers.Connection = connection;
        response.StatusCode = status;
        if (context.Features.Get<RequestRecord>() is { } record)
        {
            response.Headers[context.RequestServices.GetRequiredService<Configuration.ConfigHolder>().Settings.RequestIdHeader] = record.RequestId;
        }
    }

    private static string ReasonPhrase(int status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);

    /// <summary>
    /// After YARP has run: turn its bare error status into a message, and say in the log which failure it was
    /// (refused, reset, timed out) so "502" is never a mystery.
    /// </summary>
    public static async Task DescribeForwarderErrorAsync(HttpContext context, ILogger logger)
    {
        var error = context.GetForwarderErrorFeature();
        if (error is null || error.Error == ForwarderError.None)
        {
            return;
        }

        var proxy = context.GetReverseProxyFeature();
        // A Unix-socket upstream's address is a placeholder (http://localhost/); the socket is what the user configured.
        var upstream = proxy.Cluster.Config.Metadata?.GetValueOrDefault(UpstreamConnector.UnixSocketMetadataKey) is { } socket
            ? "unix:" + socket
            : proxy.ProxiedDestination?.Model.Config.Address ?? "upstream";
        var detail = Innermost(error.Exception)?.Message ?? error.Error.ToString();
        var (status, rejection, message) = error.Error switch
        {
            // A route without request buffering streams the body: Kestrel's limit stops it on the way, and Kestrel's own
            // answer was an empty 413 counted as a client abort.
            ForwarderError.RequestBodyClient when Innermost(error.Exception) is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }
                => (413, Rejection.BodyTooLarge, $"request body is larger than the {BodyLimit(context)} limit (SIDECAR_MAX_BODY_SIZE or the route's Sidecar.MaxBodySize)"),
            // Whatever YARP saw (a small body read whole is cancelled under the transform, reported as ResponseHeaders),
            // unless the upstream side failed: YARP then cuts the client off itself, which cancels RequestAborted too.
            _ when context.RequestAborted.IsCancellationRequested && !IsUpstreamSide(error.Error) => (0, Rejection.ClientAborted, "client went away"),
            // A cancellation here is YARP's activity timeout (a client that leaves is ResponseBodyCanceled; on a stream
            // it arrives wrapped around a read failure), and a TimeoutException the spool's own idle timer: either way
            // the upstream went silent mid-body.
            ForwarderError.ResponseBodyDestination when InChain<TimeoutException>(error.Exception) || InChain<OperationCanceledException>(error.Exception)
                => (504, Rejection.UpstreamTimeout, $"upstream {upstream} went silent in the middle of its response for longer than UpstreamTimeout"),
            // nginx's "upstream timed out while proxying upgraded connection": an idle WebSocket past the route's timeout.
            ForwarderError.UpgradeActivityTimeout => (504, Rejection.UpstreamTimeout, $"the upgraded connection to upstream {upstream} was idle for longer than UpstreamTimeout"),
            ForwarderError.RequestTimedOut => (504, Rejection.UpstreamTimeout, $"upstream {upstream} did not answer in time"),
            // A small body read whole before the headers go out (ResponseBuffering) timed out.
            ForwarderError.ResponseHeaders when error.Exception is TimeoutException => (504, Rejection.UpstreamTimeout, $"upstream {upstream} stopped in the middle of its response: {detail}"),
            ForwarderError.NoAvailableDestinations => (503, Rejection.UpstreamRefused, "no upstream destination is available"),
            ForwarderError.Request => BeforeResponse(error.Exception, upstream, detail),
            ForwarderError.ResponseHeaders => (502, Rejection.UpstreamFailed, $"upstream {upstream} sent an invalid response: {detail}"),
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled
                or ForwarderError.RequestBodyClient or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeRequestClient
                or ForwarderError.UpgradeResponseClient => (0, Rejection.ClientAborted, "client went away"),
            _ => (502, Rejection.UpstreamFailed, $"upstream {upstream} failed ({error.Error}): {detail}"),
        };

        if (status == 0)
        {
            context.Features.Get<RequestRecord>()!.Rejection = rejection;
            return;
        }

        if (rejection == Rejection.BodyTooLarge)
        {
            // The rest of the body is unread: the connection cannot carry another request, and Kestrel's own report of
            // the same limit is this answer's.
            context.Response.Headers.Connection = "close";
            RefusedRequestLog.MarkAnswered(context);
        }

        await WriteAsync(context, status, rejection, message, logger);
    }

    private static bool InChain<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T)
            {
                return true;
            }
        }

        return false;
    }

    private static string BodyLimit(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize is { } limit
            ? Configuration.Units.FormatSize(limit)
            : "configured";

    /// <summary>YARP's "destination" is the upstream: these are failures on its side of the exchange.</summary>
    private static bool IsUpstreamSide(ForwarderError error) => error is ForwarderError.RequestBodyDestination
        or ForwarderError.ResponseBodyDestination or ForwarderError.UpgradeRequestDestination or ForwarderError.UpgradeResponseDestination;

    /// <summary>
    /// YARP reports every failure before the response head as one kind; the connection may have been refused, or the
    /// upstream reached and then broken (nginx's "upstream prematurely closed connection"), which needs other action.
    /// </summary>
    private static (int, string, string) BeforeResponse(Exception? exception, string upstream, string detail) =>
        HttpError(exception) switch
        {
            HttpRequestError.ResponseEnded => (502, Rejection.UpstreamFailed,
                $"upstream {upstream} closed the connection without answering (a gunicorn worker that crashed, was killed or timed out does this): {detail}"),
            HttpRequestError.InvalidResponse => (502, Rejection.UpstreamFailed, $"upstream {upstream} answered with something that is not HTTP/1.1: {detail}"),
            HttpRequestError.ConfigurationLimitExceeded => (502, Rejection.UpstreamFailed, $"upstream {upstream} sent response headers over 64 KiB: {detail}"),
            _ => (502, Rejection.UpstreamRefused, $"cannot reach upstream {upstream}: {detail}"),
        };

    private static HttpRequestError HttpError(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            var kind = e switch
            {
                HttpIOException io => io.HttpRequestError,
                HttpRequestException request => request.HttpRequestError,
                _ => HttpRequestError.Unknown,
            };
            if (kind != HttpRequestError.Unknown)
            {
                return kind;
            }
        }

        return HttpRequestError.Unknown;
    }

    private static Exception? Innermost(Exception? e)
    {
        while (e?.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }
}
