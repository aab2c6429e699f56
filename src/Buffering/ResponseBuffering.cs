using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Sidecar.Configuration;
using Sidecar.Logging;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.Buffering;

/// <summary>
/// nginx's proxy_buffering, as a YARP response transform: decides per response whether to spool it, and if so
/// swaps the upstream content for a <see cref="SpooledContent"/>. Streams that must not wait are left alone:
/// <c>X-Accel-Buffering: no</c> (honoured and stripped, as nginx does), server-sent events, upgrades and bodiless responses.
/// A body whose Content-Length fits in <c>ResponseBufferMemory</c> (most HTML and JSON answers) is read whole here instead,
/// before the headers go out: no pump task, no spool, and the worker is released just as early.
/// </summary>
public sealed class ResponseBuffering(ConfigHolder config, SpoolStore store, ILogger<ResponseBuffering> logger)
{
    private const string AccelBuffering = "X-Accel-Buffering";

    public ValueTask ApplyAsync(ResponseTransformContext context)
    {
        // YARP also runs response transforms when no response came (refused, timed out): no headers arrived then.
        var response = context.ProxyResponse;
        // An earlier transform (X-Accel-Redirect) already answered; there is no upstream body to spool.
        if (response is null || context.SuppressResponseBody)
        {
            return ValueTask.CompletedTask;
        }

        var record = context.HttpContext.Features.Get<RequestRecord>();
        if (record is not null)
        {
            record.UpstreamHeaders = Stopwatch.GetTimestamp();
        }

        // The header is for the sidecar, not the client, whichever way it says.
        var optOut = context.HttpContext.Response.Headers.Remove(AccelBuffering, out var accel)
            && string.Equals(accel.ToString().Trim(), "no", StringComparison.OrdinalIgnoreCase);

        var hasBody = HasBody(context.HttpContext, response);
        if (hasBody)
        {
            CountBytesOut(response, record);
        }

        var settings = config.Settings;
        var proxy = context.HttpContext.GetReverseProxyFeature();
        if (optOut || !RoutePolicy.For(proxy.Route.Config, settings).ResponseBuffering || !hasBody || !IsBufferable(response))
        {
            if (hasBody)
            {
                // A stream goes out as it comes: dynamic compression flushes after every write.
                context.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            }

            return ValueTask.CompletedTask;
        }

        var idleTimeout = proxy.Cluster.Config.HttpRequest?.ActivityTimeout ?? settings.UpstreamTimeout;
        if (response.Content.Headers.ContentLength <= settings.ResponseBufferMemory)
        {
            return ReadWholeAsync(context, response.Content, idleTimeout, record);
        }

        response.Content = new SpooledContent(response.Content, store, settings.ResponseBufferMemory,
            settings.ResponseBufferMaxFile, idleTimeout, record, logger,
            context.HttpContext.Features.Get<IUpstreamCompletionFeature>());
        return ValueTask.CompletedTask;
    }

    /// <remarks>
    /// A failure here happens before any byte reaches the client, so YARP answers 502 (504 for the timeout,
    /// see <see cref="Forwarding.ProxyErrors"/>) instead of sending a truncated body.
    /// The token carries YARP's activity timeout, restarted when the response headers arrived.
    /// </remarks>
    private static async ValueTask ReadWholeAsync(ResponseTransformContext context, HttpContent content, TimeSpan idleTimeout, RequestRecord? record)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await content.LoadIntoBufferAsync(context.CancellationToken);
        }
        catch (OperationCanceledException) when (!context.HttpContext.RequestAborted.IsCancellationRequested)
        {
            throw new TimeoutException($"the upstream sent no response body data for {idleTimeout.TotalSeconds:0.###} s");
        }
        finally
        {
            if (record is not null)
            {
                record.ResponseBufferTime = Stopwatch.GetElapsedTime(started);
                record.UpstreamEnd = Stopwatch.GetTimestamp();
            }
        }

        context.HttpContext.Features.Get<IUpstreamCompletionFeature>()?.OnUpstreamCompleted();
    }

    /// <summary>
    /// The access log's bytes_out from the upstream's own framing: the client response's Content-Length is gone
    /// once dynamic compression takes over, and a body of unknown length is counted as it is read, whether it is
    /// streamed, spooled, or handed over to the client's reader part way.
    /// </summary>
    private static void CountBytesOut(HttpResponseMessage response, RequestRecord? record)
    {
        if (record is null)
        {
            return;
        }

        if (response.Content.Headers.ContentLength is { } length)
        {
            record.BytesOut = length;
        }
        else
        {
            response.Content = new CountedContent(response.Content, record);
        }
    }

    private static bool HasBody(HttpContext context, HttpResponseMessage response)
    {
        var status = (int)response.StatusCode;
        return !HttpMethods.IsHead(context.Request.Method) && status is >= 200 and not (204 or 304);
    }

    private static bool IsBufferable(HttpResponseMessage response)
    {
        if (response.Content.Headers.ContentLength == 0)
        {
            return false;
        }

        var mediaType = response.Content.Headers.ContentType?.MediaType;
        return !string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase);
    }
}
