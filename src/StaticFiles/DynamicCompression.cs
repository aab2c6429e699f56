using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Extensions.Options;
using Sidecar.Configuration;
using Sidecar.Logging;

namespace Sidecar.StaticFiles;

/// <summary>
/// ASP.NET Core's response compression, applied to the app's text responses with the sidecar's rules on top:
/// the switch and the minimum size are read per request (hot reload), responses served from a static mount
/// (X-Accel-Redirect) and <c>Cache-Control: no-transform</c> are left alone, and a strong ETag from the app is
/// weakened, because the compressed bytes are no longer the representation that ETag named.
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

    public ICompressionProvider? GetCompressionProvider(HttpContext context) => _inner.GetCompressionProvider(context);

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

        // Only a response that will really be encoded (not "identity" chosen) loses its strong validator.
        if (_inner.GetCompressionProvider(context) is null)
        {
            return true;
        }

        var etag = response.Headers.ETag.ToString();
        if (etag.StartsWith('"'))
        {
            response.Headers.ETag = "W/" + etag;
        }

        return true;
    }
}
