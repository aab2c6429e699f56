using System.IO.Pipelines;
using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Connections;
using Sidecar.Configuration;
using Sidecar.Forwarding;
using Sidecar.Logging;
using Yarp.ReverseProxy.Model;

namespace Sidecar.Buffering;

/// <summary>
/// nginx's proxy_request_buffering: the whole body is read from the client (memory, then a temp file) before
/// the upstream is contacted, so a gunicorn worker only ever sees a complete request, and it is re-framed
/// with Content-Length (chunked uploads included). Runs inside YARP's pipeline, where the route is known.
/// </summary>
public sealed class RequestBufferingMiddleware(RequestDelegate next, ConfigHolder config, SpoolStore store, ILogger<RequestBufferingMiddleware> logger)
{
    /// <summary>Longest the unread body of a refused upload is read and discarded (nginx's lingering_time).</summary>
    public static readonly TimeSpan LingeringTime = TimeSpan.FromSeconds(30);

    public async Task InvokeAsync(HttpContext context)
    {
        var settings = config.Settings;
        var route = context.GetReverseProxyFeature().Route.Config;
        var policy = RoutePolicy.For(route, settings);
        var record = context.Features.Get<RequestRecord>();
        if (record is not null)
        {
            record.Route = route.RouteId;
        }

        var request = context.Request;
        var limit = policy.MaxBodySize > 0 ? policy.MaxBodySize : (long?)null;
        if (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody != true)
        {
            // No body to wait for: the app's "100 Continue" would only be a stray answer.
            request.Headers.Remove("Expect");
            await next(context);
            return;
        }

        if (limit is { } declaredMax && request.ContentLength > declaredMax)
        {
            await RejectTooLarge(context, declaredMax);
            await LingerAsync(context);
            return;
        }

        var sizeFeature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (sizeFeature is { IsReadOnly: false })
        {
            // Kestrel counts a chunked body's framing against its limit (200 KB sent in 1-byte chunks is 1.2 MB on the
            // wire), so a buffered chunked body is counted below instead, by what it decodes to, as nginx's
            // client_max_body_size is. Kestrel keeps the limit where nothing else counts: Content-Length bodies and
            // unbuffered routes.
            sizeFeature.MaxRequestBodySize = policy.RequestBuffering && request.ContentLength is null ? null : limit;
        }

        if (!policy.RequestBuffering)
        {
            await next(context);
            return;
        }

        var spool = new Spool(store, settings.RequestBufferMemory);
        context.Response.RegisterForDispose(spool);
        var started = Stopwatch.GetTimestamp();
        // Straight from Kestrel's pipe: no copy buffer is held while a slow client sends nothing, and each read takes
        // everything that has arrived (16 KiB reads into a buffer cost 8-20% more CPU per uploaded MiB).
        var body = request.BodyReader;
        // Kestrel's rate check averages over the whole body, so a client that sent 3 MB and went quiet passed it for
        // hours, holding its spool space; nginx's client_body_timeout counts from the last read, and so does this.
        // The wait ends through CancelPendingRead, and a client that leaves ends it by failing the read: a read
        // cancelled through a token leaves Kestrel's body reader mid-read, and Kestrel then logged an error-level
        // "Reading is already in progress" for every upload a client reset.
        using var idle = new CancellationTokenSource();
        using var onIdle = idle.Token.UnsafeRegister(static reader => ((System.IO.Pipelines.PipeReader)reader!).CancelPendingRead(), body);
        try
        {
            while (true)
            {
                idle.CancelAfter(settings.BodyIdleTimeout);
                var result = await body.ReadAsync();
                var data = result.Buffer;
                // Kestrel enforces the limit for Content-Length bodies; chunked ones are counted here, decoded.
                var tooLarge = limit is { } max && spool.Length + data.Length > max;
                try
                {
                    if (!tooLarge)
                    {
                        spool.Append(data);
                    }
                }
                finally
                {
                    // Always, even when the spool is full: Kestrel drains the rest of the body after the answer, and
                    // a read left open makes it drop the connection instead (a reused connection then fails).
                    body.AdvanceTo(data.End);
                }

                if (tooLarge)
                {
                    await RejectTooLarge(context, limit!.Value);
                    return;
                }

                if (result.IsCompleted)
                {
                    break;
                }

                if (result.IsCanceled)
                {
                    throw new TimeoutException();
                }
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await RejectTooLarge(context, limit ?? 0);
            return;
        }
        catch (BadHttpRequestException e)
        {
            // Too slow (MinRequestBodyRate), a body that ended early (the client left), or malformed chunking, which
            // is a bad request and has to show up as one: smuggling probes hid among clients that left. Kestrel
            // says which only in its message.
            EndConnectionAfterThisRequest(context);
            var rejection = e.StatusCode == StatusCodes.Status408RequestTimeout ? Rejection.SlowBody
                : e.Message.StartsWith("Unexpected end of request content", StringComparison.Ordinal) ? Rejection.ClientAborted
                : Telemetry.ConnectionRejections.BadRequest;
            // Kestrel's message names its own option (MinRequestBodyDataRate); the user sets the sidecar's.
            var reason = rejection == Rejection.SlowBody
                ? $"it arrived slower than {settings.MinRequestBodyRate} bytes/s after the first {settings.RateGracePeriod.TotalSeconds:0.###}s (MinRequestBodyRate)"
                : e.Message;
            await ProxyErrors.WriteAsync(context, e.StatusCode, rejection, $"request body not received: {reason}", logger);
            return;
        }
        catch (TimeoutException)
        {
            // The metrics leave slow_body to the server's own rate check, which never sees this one.
            Telemetry.SidecarMetrics.Rejections.WithLabels(Rejection.SlowBody).Inc();
            EndConnectionAfterThisRequest(context);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status408RequestTimeout, Rejection.SlowBody,
                $"request body not received: nothing arrived for {settings.BodyIdleTimeout.TotalSeconds:0.###}s after {spool.Length} bytes (BodyIdleTimeout)", logger);
            return;
        }
        catch (SpoolFullException e)
        {
            // The rest of the body is not read: without the close, the server read it as the next request's start and
            // logged a second, phantom 400 when the client hung up.
            EndConnectionAfterThisRequest(context);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status507InsufficientStorage, Rejection.SpoolFull,
                $"the request body cannot be buffered: {e.Message}", logger);
            return;
        }
        catch (IOException e) when (e is not ConnectionResetException && !context.RequestAborted.IsCancellationRequested)
        {
            // The client is still there, so its body is what failed: Kestrel reports a chunk size too large to hold
            // as an IOException, not a bad request, and the client got an empty 200 while the upload was dropped.
            EndConnectionAfterThisRequest(context);
            await ProxyErrors.WriteAsync(context, StatusCodes.Status400BadRequest, Telemetry.ConnectionRejections.BadRequest,
                $"request body not received: {e.Message}", logger);
            return;
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ConnectionResetException)
        {
            // The client went away mid-upload; nothing was sent upstream and the spool is released with the response.
            // The connection is aborted rather than closed after the answer: its failed read leaves Kestrel's body
            // reader mid-read, and Kestrel's drain of it then logged an error-level "Reading is already in progress".
            EndConnectionAfterThisRequest(context);
            context.Abort();
            if (record is not null)
            {
                record.Rejection = Rejection.ClientAborted;
            }

            return;
        }
        finally
        {
            if (record is not null)
            {
                record.RequestBufferTime = Stopwatch.GetElapsedTime(started);
                record.BytesIn = spool.Length;
                record.RequestSpooledToDisk = spool.BytesOnDisk > 0;
            }
        }

        spool.Complete();
        request.Body = new SpoolReadStream(spool);
        request.Headers.ContentLength = spool.Length;
        request.Headers.Remove("Transfer-Encoding");
        // Kestrel already answered "100 Continue" when the body was read; forwarding Expect would make the
        // upstream client wait for a second one.
        request.Headers.Remove("Expect");
        await next(context);
    }

    /// <summary>
    /// Where an unfinished body ends is unknown, so nothing more may be read from the connection as a request. Kestrel
    /// does not ensure it: when a client half-closed in the middle of its body, the request was aborted, keep-alive
    /// stayed on, and the body's remaining bytes were parsed as the next request and forwarded to the app. The failure
    /// is this request's to report, not Kestrel's second report of it (<see cref="RefusedRequestLog"/>).
    /// </summary>
    private static void EndConnectionAfterThisRequest(HttpContext context)
    {
        RefusedRequestLog.MarkAnswered(context);
        context.Response.Headers.Connection = "close";
        context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
    }

    /// <summary>
    /// nginx's lingering close. A client that sends its whole body before reading the answer (Python's requests and
    /// http.client, .NET's HttpClient) would otherwise write into a closed socket, get a reset, and never see the 413.
    /// After the answer is out, the unread body is read and thrown away for at most <see cref="LingeringTime"/>
    /// (nginx's lingering_time); Kestrel's MinRequestBodyRate still ends it early for a client that stops sending.
    /// </summary>
    private static async Task LingerAsync(HttpContext context)
    {
        var size = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        // A client that asked "Expect: 100-continue" has sent no body and, refused, will send none.
        if (size is not { IsReadOnly: false } || context.Request.Headers.Expect.Count > 0)
        {
            return;
        }

        size.MaxRequestBodySize = null;
        await context.Response.CompleteAsync();
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        linger.CancelAfter(LingeringTime);
        var body = context.Request.BodyReader;
        try
        {
            ReadResult result;
            do
            {
                result = await body.ReadAsync(linger.Token);
                body.AdvanceTo(result.Buffer.End);
            }
            while (!result.IsCompleted);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or BadHttpRequestException or ConnectionResetException)
        {
            // The client stopped, left, or was too slow: the connection closes either way. Closed here, or Kestrel tries
            // to drain the same body after the request and logs the clash as a failure ("Reading is already in progress").
            context.Abort();
        }
    }

    private Task RejectTooLarge(HttpContext context, long max)
    {
        RefusedRequestLog.MarkAnswered(context);
        context.Response.Headers.Connection = "close";
        return ProxyErrors.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, Rejection.BodyTooLarge,
            $"request body is larger than the {Units.FormatSize(max)} limit (SIDECAR_MAX_BODY_SIZE or the route's Sidecar.MaxBodySize)", logger);
    }
}
