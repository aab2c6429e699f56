using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Sidecar.Configuration;

namespace Sidecar.Logging;

/// <summary>
/// The outermost stage: gives every request its <see cref="RequestRecord"/> and request id (kept when the
/// client sent a sane one), returns the id to the client, and logs one JSON line when the request ends.
/// </summary>
public sealed class AccessLogMiddleware(RequestDelegate next, ConfigHolder config, AccessLogWriter writer, IEnumerable<IRequestObserver> observers)
{
    private readonly IRequestObserver[] _observers = observers.ToArray();

    public async Task InvokeAsync(HttpContext context)
    {
        var settings = config.Settings;
        var header = settings.RequestIdHeader;
        var id = RequestIds.Accept(context.Request.Headers[header]) ?? RequestIds.New();
        context.Request.Headers[header] = id;
        context.Response.Headers[header] = id;

        var record = new RequestRecord(Stopwatch.GetTimestamp(), id);
        context.Features.Set(record);
        try
        {
            await next(context);
        }
        catch when (!context.Response.HasStarted)
        {
            // Kestrel answers 500 for an exception that escapes before the response began; the log and the metrics say
            // so, instead of whatever status a stage had set before it failed.
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            throw;
        }
        finally
        {
            // Kestrel keeps an aborted request's connection alive when the client only half-closed it, and would parse
            // any of its body still buffered as the next request (Buffering.RequestBufferingMiddleware ends the
            // connection for the uploads it reads; this covers bodies nothing read: static files, unbuffered routes).
            if (context.RequestAborted.IsCancellationRequested)
            {
                context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.RequestClose();
            }

            // A request that went unanswered past its client with no other rejection (a static download or a stream
            // the client left) is the client's abort, for the metrics as for the log line.
            if (record.Rejection is null
                && (context.RequestAborted.IsCancellationRequested || (record.ResponseSpooledToDisk && await WasCutOffAsync(context.Response))))
            {
                record.Rejection = Rejection.ClientAborted;
            }

            foreach (var observer in _observers)
            {
                observer.OnCompleted(context, record);
            }

            if (settings.AccessLog && (settings.StaticAccessLog || record.StaticMount is null))
            {
                Log(context, record);
            }
        }
    }

    /// <summary>
    /// Once Kestrel has cut a client off (a reader below the minimum rate, a reset), writes to it succeed silently and
    /// RequestAborted is cancelled later from a queued work item. A copy from a disk spool never waits, so on a busy
    /// machine it can run to its end first and pass for a delivered response. Kestrel marks its output completed at the
    /// moment it cuts the connection, and a flush of the server's own writer (outside compression, here) says so at once.
    /// Only spooled responses are asked: an empty flush wakes the connection's sender, a cost every request would pay.
    /// </summary>
    private static async ValueTask<bool> WasCutOffAsync(HttpResponse response) =>
        response.HasStarted && (await response.BodyWriter.FlushAsync()).IsCompleted;

    private void Log(HttpContext context, RequestRecord record)
    {
        var request = context.Request;
        var response = context.Response;
        // RequestAborted is also cancelled when the sidecar cuts the client off itself (an upstream that died mid-body):
        // that is the rejection's doing, not the client's, so only the rejection says which.
        var aborted = record.Rejection == Rejection.ClientAborted;
        writer.Write(json =>
        {
            json.WriteString("time", DateTime.UtcNow.ToString("O"));
            json.WriteString("request_id", record.RequestId);
            json.WriteString("client", Forwarding.ForwardedHeaders.PeerAddress(context.Connection)?.ToString());
            json.WriteString("method", request.Method);
            json.WriteString("path", request.Path.Value);
            if (request.QueryString.HasValue)
            {
                json.WriteString("query", request.QueryString.Value);
            }

            json.WriteString("protocol", request.Protocol);
            json.WriteNumber("status", record.StatusFor(response));
            json.WriteNumber("bytes_in", record.BytesIn);
            json.WriteNumber("bytes_out", record.BodyBytesOut(context));
            json.WriteNumber("duration_ms", Math.Round(record.Elapsed.TotalMilliseconds, 3));
            if (record.UpstreamTime is { } upstream)
            {
                json.WriteNumber("upstream_ms", Math.Round(upstream.TotalMilliseconds, 3));
            }

            if (record.QueueWait > TimeSpan.Zero)
            {
                json.WriteNumber("queue_ms", Math.Round(record.QueueWait.TotalMilliseconds, 3));
            }

            json.WriteNumber("request_buffer_ms", Math.Round(record.RequestBufferTime.TotalMilliseconds, 3));
            json.WriteNumber("response_buffer_ms", Math.Round(record.ResponseBufferTime.TotalMilliseconds, 3));
            if (record.Route is { } route)
            {
                json.WriteString("route", route);
            }

            if (record.StaticMount is { } mount)
            {
                json.WriteString("static_mount", mount);
                json.WriteString("static_encoding", record.StaticEncoding);
            }

            if (record.Rejection is { } rejection)
            {
                json.WriteString("rejection", rejection);
            }

            if (aborted)
            {
                json.WriteBoolean("client_aborted", true);
            }

            json.WriteString("user_agent", request.Headers.UserAgent.ToString());
        });
    }
}

/// <summary>Told about every finished request, after the response; metrics implement this.</summary>
public interface IRequestObserver
{
    void OnCompleted(HttpContext context, RequestRecord record);
}

/// <summary>Request ids: accept what a client or ingress sent if it is printable and short, else make one.</summary>
public static class RequestIds
{
    public static string? Accept(Microsoft.Extensions.Primitives.StringValues values)
    {
        if (values.Count != 1 || values[0] is not { Length: > 0 and <= 128 } value)
        {
            return null;
        }

        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return null;
            }
        }

        return value;
    }

    /// <summary>
    /// 48 bits of Unix milliseconds then 80 random bits, as 32 hex digits: ids sort by time like a UUIDv7.
    /// Not a Guid, whose random bytes cost a read of /dev/urandom per request (strace: one syscall per static
    /// file served); an id only has to be unique, which the runtime's seeded generator gives without a syscall.
    /// </summary>
    public static string New()
    {
        Span<byte> id = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(id, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() << 16);
        Random.Shared.NextBytes(id[6..]);
        return Convert.ToHexStringLower(id);
    }
}
