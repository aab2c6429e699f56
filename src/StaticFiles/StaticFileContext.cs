using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Sidecar.Logging;

namespace Sidecar.StaticFiles;

/// <summary>
/// One static request, start to finish, in one place (as ASP.NET's StaticFileContext): pick the representation,
/// evaluate preconditions (RFC 9110 §13.2.2 order), apply a byte range, write the prebuilt headers and the body.
/// </summary>
public static class StaticFileContext
{
    private static readonly StringValues AllowedMethods = "GET, HEAD";
    private static readonly StringValues VaryAcceptEncoding = HeaderNames.AcceptEncoding;
    private static readonly StringValues Bytes = "bytes";
    private static readonly StringValues NoSniff = "nosniff";
    private static readonly StringValues NoStore = "no-store";
    private static readonly StringValues TextPlain = "text/plain; charset=utf-8";
    private static readonly byte[] NotFoundBody = "Not Found\n"u8.ToArray();
    private static readonly byte[] ChangedBody = "Service Unavailable: this file changed on disk after the server started\n"u8.ToArray();
    private static readonly byte[] MethodNotAllowedBody = "Method Not Allowed: static files answer GET and HEAD\n"u8.ToArray();

    /// <summary>Reads large files straight into the response pipe's memory, in chunks this big.</summary>
    private const int ChunkSize = 64 * 1024;

    /// <summary>Serves a catalogued file. <paramref name="accel"/>: an X-Accel-Redirect, whose app headers are kept.</summary>
    public static Task ServeAsync(HttpContext context, MountCatalog mount, StaticAsset asset, RequestRecord? record, bool accel = false)
    {
        var request = context.Request;
        var response = context.Response;
        var isHead = HttpMethods.IsHead(request.Method);
        if (!accel && !isHead && !HttpMethods.IsGet(request.Method))
        {
            Record(record, mount, asset.Identity, asset);
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = AllowedMethods;
            return WriteSmallAsync(response, MethodNotAllowedBody, isHead: false);
        }

        var headers = request.Headers;
        var identity = asset.Identity;

        // A Range is answered from the identity bytes, so offsets mean the same thing for every client and cache.
        var range = ByteRange.None;
        if (!isHead && headers.Range.Count > 0 && IfRangeHolds(headers.IfRange, asset))
        {
            range = ByteRange.Parse(headers.Range, identity.Length);
        }

        var variant = range == ByteRange.None ? AcceptEncoding.Select(headers.AcceptEncoding, asset) : identity;
        Record(record, mount, variant, asset);

        var status = EvaluatePreconditions(headers, variant, asset);
        WriteCommonHeaders(response, mount, asset, variant, status, accel);
        if (status == StatusCodes.Status412PreconditionFailed)
        {
            response.StatusCode = status;
            response.Headers.CacheControl = default;
            response.ContentLength = 0;
            return Task.CompletedTask;
        }

        if (status == StatusCodes.Status304NotModified)
        {
            response.StatusCode = status;
            return Task.CompletedTask;
        }

        if (range.IsUnsatisfiable)
        {
            response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
            response.Headers.ContentRange = "bytes */" + identity.Length;
            // Explicit freshness would make the error cacheable, for a year on a hashed name.
            response.Headers.CacheControl = default;
            response.ContentLength = 0;
            return Task.CompletedTask;
        }

        // An app that named the type of its download is believed; text/html is what frameworks send for an empty body.
        if (!accel || response.Headers.ContentType.Count == 0 || IsHtml(response.Headers.ContentType))
        {
            response.Headers.ContentType = asset.ContentType;
        }

        long offset = 0, count = variant.Length;
        response.StatusCode = StatusCodes.Status200OK;
        if (range.IsSingle)
        {
            (offset, count) = (range.Start, range.Length);
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = $"bytes {offset}-{offset + count - 1}/{identity.Length}";
        }

        response.ContentLength = count;
        if (isHead)
        {
            return Task.CompletedTask;
        }

        if (record is not null)
        {
            record.BytesOut = count;
        }

        return variant.BodyInMemory() is { } bytes
            ? response.BodyWriter.WriteAsync(bytes.AsMemory((int)offset, (int)count), context.RequestAborted).AsTask()
            : SendFileAsync(context, variant, offset, count);
    }

    /// <summary>
    /// The file was deleted or changed after the catalog was built (an unwatched mount; a watched one rebuilds). Nothing
    /// has been sent yet, so the prebuilt headers are dropped for an answer that says so: a 404 for a file that is gone
    /// (it was a 500 logged as a 200), a 503 for one that changed (it was served under the old length and ETag, corrupt
    /// compressed bytes included, a year-long cache for a hashed name).
    /// </summary>
    private static Task FileChangedAsync(HttpContext context, StaticVariant variant, bool gone)
    {
        var status = gone ? StatusCodes.Status404NotFound : StatusCodes.Status503ServiceUnavailable;
        var problem = gone ? "was deleted after the sidecar started" : "changed after the sidecar started";
        context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Sidecar.StaticFiles").LogWarning(
            "{Status} {Path}: {File} {Problem}; set Watch on its mount to follow changes, or restart the sidecar",
            status, context.Request.Path.Value, variant.PhysicalPath, problem);
        var response = context.Response;
        Forwarding.ProxyErrors.ClearForAnswer(context, status);
        response.Headers.CacheControl = NoStore;
        var body = gone ? NotFoundBody : ChangedBody;
        if (context.Features.Get<RequestRecord>() is { } record)
        {
            record.BytesOut = body.Length;
        }

        return WriteSmallAsync(response, body, isHead: false);
    }

    /// <summary>A local 404 for a miss under a static prefix: the app never sees requests for assets that do not exist.</summary>
    public static Task NotFoundAsync(HttpContext context, MountCatalog mount, RequestRecord? record)
    {
        if (record is not null)
        {
            record.Route = mount.Mount.Name;
            record.StaticMount = mount.Mount.Name;
            record.StaticEncoding = StaticVariant.IdentityCoding;
        }

        var response = context.Response;
        response.StatusCode = StatusCodes.Status404NotFound;
        // A miss may be a deploy in progress (new HTML, old pod): never let a cache remember it.
        response.Headers.CacheControl = NoStore;
        response.Headers.XContentTypeOptions = NoSniff;
        if (mount.Mount.AllowOriginHeader.Count > 0)
        {
            response.Headers.AccessControlAllowOrigin = mount.Mount.AllowOriginHeader;
        }

        return WriteSmallAsync(response, NotFoundBody, HttpMethods.IsHead(context.Request.Method));
    }

    private static void Record(RequestRecord? record, MountCatalog mount, StaticVariant variant, StaticAsset asset)
    {
        if (record is null)
        {
            return;
        }

        record.Route ??= mount.Mount.Name;
        record.BytesOut = 0; // until a body is written: HEAD, 304, 412 and 416 send none
        record.StaticMount = mount.Mount.Name;
        record.StaticEncoding = variant.Coding;
        record.StaticBytesSaved = asset.Identity.Length - variant.Length;
    }

    /// <summary>If-Match / If-Unmodified-Since (412), then If-None-Match over If-Modified-Since (304).</summary>
    private static int EvaluatePreconditions(IHeaderDictionary headers, StaticVariant variant, StaticAsset asset)
    {
        var lastModified = asset.LastModifiedDate;
        if (headers.IfMatch.Count > 0)
        {
            if (!Preconditions.Matches(headers.IfMatch, variant.Opaque, strong: true))
            {
                return StatusCodes.Status412PreconditionFailed;
            }
        }
        else if (Preconditions.Date(headers.IfUnmodifiedSince) is { } unmodifiedSince && (lastModified is null || lastModified > unmodifiedSince))
        {
            return StatusCodes.Status412PreconditionFailed;
        }

        if (headers.IfNoneMatch.Count > 0)
        {
            return Preconditions.Matches(headers.IfNoneMatch, variant.Opaque, strong: false) ? StatusCodes.Status304NotModified : StatusCodes.Status200OK;
        }

        // A date in the future is a client clock problem, not a statement about our file.
        if (lastModified is not null && Preconditions.Date(headers.IfModifiedSince) is { } since
            && lastModified <= since && since <= DateTimeOffset.UtcNow)
        {
            return StatusCodes.Status304NotModified;
        }

        return StatusCodes.Status200OK;
    }

    /// <summary>If-Range: the range applies only if the client's copy is the current identity representation.</summary>
    private static bool IfRangeHolds(StringValues ifRange, StaticAsset asset)
    {
        if (ifRange.Count == 0)
        {
            return true;
        }

        var value = ifRange.ToString().Trim();
        if (value.StartsWith('"') || value.StartsWith("W/", StringComparison.Ordinal))
        {
            return Preconditions.Matches(ifRange, asset.Identity.Opaque, strong: true);
        }

        return asset.LastModifiedDate is { } lastModified && Preconditions.Date(ifRange) == lastModified;
    }

    private static void WriteCommonHeaders(HttpResponse response, MountCatalog mount, StaticAsset asset, StaticVariant variant, int status, bool accel)
    {
        var headers = response.Headers;
        headers.ETag = variant.ETag;
        if (asset.LastModified.Count > 0)
        {
            headers.LastModified = asset.LastModified;
        }

        // An X-Accel-Redirect keeps the app's caching decision when it made one (private downloads).
        if (!accel || headers.CacheControl.Count == 0)
        {
            headers.CacheControl = asset.CacheControl;
        }

        if (asset.Varies)
        {
            headers.Vary = accel && headers.Vary.Count > 0 ? StringValues.Concat(headers.Vary, VaryAcceptEncoding) : VaryAcceptEncoding;
        }

        if (mount.Mount.AllowOriginHeader.Count > 0)
        {
            headers.AccessControlAllowOrigin = mount.Mount.AllowOriginHeader;
        }

        headers.XContentTypeOptions = NoSniff;
        if (status == StatusCodes.Status200OK)
        {
            headers.AcceptRanges = Bytes;
            if (!variant.IsIdentity)
            {
                headers.ContentEncoding = variant.ContentEncoding;
            }
        }
    }

    private static bool IsHtml(StringValues contentType) =>
        contentType.ToString().StartsWith("text/html", StringComparison.OrdinalIgnoreCase);

    private static Task WriteSmallAsync(HttpResponse response, byte[] body, bool isHead)
    {
        response.ContentType = TextPlain;
        response.ContentLength = body.Length;
        return isHead ? Task.CompletedTask : response.BodyWriter.WriteAsync(body).AsTask();
    }

    /// <summary>
    /// Kestrel has no sendfile, so the next best: read the file straight into the response pipe's own buffers
    /// (one copy, from the page cache), with backpressure from the client through FlushAsync.
    /// </summary>
    private static async Task SendFileAsync(HttpContext context, StaticVariant variant, long offset, long count)
    {
        if (variant.Changed)
        {
            await FileChangedAsync(context, variant, gone: false);
            return;
        }

        Microsoft.Win32.SafeHandles.SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(variant.PhysicalPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            await FileChangedAsync(context, variant, gone: true);
            return;
        }

        using var _ = handle;
        // One fstat: a file truncated or grown since start-up would break the promised Content-Length mid-body.
        if (RandomAccess.GetLength(handle) != variant.Length)
        {
            await FileChangedAsync(context, variant, gone: false);
            return;
        }

        var writer = context.Response.BodyWriter;
        var aborted = context.RequestAborted;
        while (count > 0)
        {
            var memory = writer.GetMemory((int)Math.Min(count, ChunkSize));
            var want = (int)Math.Min(count, memory.Length);
            var read = RandomAccess.Read(handle, memory.Span[..want], offset);
            if (read == 0)
            {
                // The file shrank after the catalog was built; the promised Content-Length cannot be met.
                context.Abort();
                return;
            }

            writer.Advance(read);
            offset += read;
            count -= read;
            var flush = await writer.FlushAsync(aborted);
            if (flush.IsCanceled || flush.IsCompleted)
            {
                // Said here, where it is certain: the server cancels RequestAborted only a moment later, after the
                // access log may already have looked.
                if (context.Features.Get<RequestRecord>() is { Rejection: null } record)
                {
                    record.Rejection = Rejection.ClientAborted;
                }

                return;
            }
        }
    }
}
