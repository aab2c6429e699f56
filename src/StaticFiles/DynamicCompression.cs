using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Sidecar.Configuration;
using Sidecar.Logging;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.StaticFiles;

/// <summary>
/// ASP.NET Core's response compression, applied to the app's text responses with the sidecar's rules on top:
/// the switch and the minimum size are read per request (hot reload), responses served from a static mount
/// (X-Accel-Redirect) and <c>Cache-Control: no-transform</c> are left alone, and a strong ETag from the app is
/// weakened, because the compressed bytes are no longer the representation that ETag named; Accept-Ranges goes too.
/// </summary>
public sealed class DynamicCompressionProvider(IServiceProvider services, IOptions<ResponseCompressionOptions> options, ConfigHolder config)
    : IResponseCompressionProvider
{
    public static readonly string[] MimeTypes =
    [
        "text/html", "text/plain", "text/css", "text/javascript", "text/xml", "text/csv", "text/markdown",
        "application/javascript", "application/json", "application/xml", "application/xhtml+xml", "application/rss+xml",
        "application/atom+xml", "application/ld+json", "application/problem+json", "application/manifest+json",
        "application/geo+json", "image/svg+xml",
    ];

    private readonly ResponseCompressionProvider _inner = new(services, options);

    /// <summary>The static files' negotiation, so both answer one Accept-Encoding alike (ASP.NET Core's own ignores <c>*</c>).</summary>
    public ICompressionProvider? GetCompressionProvider(HttpContext context) =>
        AcceptEncoding.SelectForUnknownSizes(context.Request.Headers.AcceptEncoding) switch
        {
            AcceptEncoding.Coding.Brotli => CoalescingCompressionProvider.Brotli,
            AcceptEncoding.Coding.Gzip => CoalescingCompressionProvider.Gzip,
            _ => null,
        };

    public bool CheckRequestAcceptsCompression(HttpContext context) =>
        config.Settings.DynamicCompression && _inner.CheckRequestAcceptsCompression(context);

    public bool ShouldCompressResponse(HttpContext context)
    {
        var response = context.Response;
        if (context.Features.Get<RequestRecord>()?.StaticMount is not null
            || (response.ContentLength is { } length && length < config.Settings.DynamicCompressionMinSize)
            || response.Headers.CacheControl.ToString().Contains("no-transform", StringComparison.OrdinalIgnoreCase)
            || !_inner.ShouldCompressResponse(context))
        {
            return false;
        }

        // Only a response that will really be encoded (not "identity" chosen) loses its strong validator, and its
        // byte ranges: a range of the app's bytes is not one of the encoded bytes the client gets.
        if (GetCompressionProvider(context) is null)
        {
            return true;
        }

        response.Headers.AcceptRanges = default;
        var etag = response.Headers.ETag.ToString();
        if (etag.StartsWith('"'))
        {
            response.Headers.ETag = "W/" + etag;
        }

        return true;
    }
}

/// <summary>
/// What caches are told about compressed app responses beyond the response compression middleware, which only
/// looks at requests that carry Accept-Encoding.
/// A response that would have been compressed for another client says <c>Vary: Accept-Encoding</c> even when this
/// client asked for no encoding (nginx's <c>gzip_vary on</c>); without it a shared cache stored the plain copy under
/// the URL alone and gave it to every client after.
/// And a 304 gets back the validator the client holds. The app never sees Accept-Encoding, so when a client
/// revalidates a compressed page with <c>If-None-Match: W/"x"</c> the app confirms it with its own strong
/// <c>"x"</c> and no Vary; a cache then updates what it stored from the 304 (RFC 9111 §4.3.4) and would hold
/// compressed bytes under the strong validator of the plain ones.
/// </summary>
public static class CompressionCacheHeaders
{
    public static ValueTask ApplyAsync(ResponseTransformContext context)
    {
        var http = context.HttpContext;
        var response = http.Response;
        if (response.StatusCode == StatusCodes.Status304NotModified)
        {
            var etag = response.Headers.ETag.ToString();
            if (etag.StartsWith('"') && http.Request.Headers.IfNoneMatch.ToString().Contains("W/" + etag, StringComparison.Ordinal))
            {
                response.Headers.ETag = "W/" + etag;
                AddVary(response);
            }
        }
        else if (http.Request.Headers.AcceptEncoding.Count == 0
            && http.RequestServices.GetRequiredService<ConfigHolder>().Settings.DynamicCompression
            && http.RequestServices.GetRequiredService<IResponseCompressionProvider>().ShouldCompressResponse(http))
        {
            AddVary(response);
        }

        return ValueTask.CompletedTask;
    }

    private static void AddVary(HttpResponse response)
    {
        if (!response.Headers.Vary.ToString().Contains(HeaderNames.AcceptEncoding, StringComparison.OrdinalIgnoreCase))
        {
            response.Headers.Append(HeaderNames.Vary, HeaderNames.AcceptEncoding);
        }
    }
}
