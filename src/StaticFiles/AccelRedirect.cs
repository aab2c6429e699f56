using Sidecar.Configuration;
using Sidecar.Logging;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.StaticFiles;

/// <summary>
/// nginx's X-Accel-Redirect as a YARP response transform: when the app answers with
/// <c>X-Accel-Redirect: /protected/report.pdf</c>, the sidecar serves that file from an internal mount, keeping the
/// app's other headers (Content-Disposition, Set-Cookie, Cache-Control, a Content-Type other than the text/html a
/// framework gives an empty response), and the gunicorn worker is free at once.
/// It must run before response buffering: it suppresses the upstream body, so there is nothing left to spool.
/// </summary>
public static class AccelRedirect
{
    public const string Header = "X-Accel-Redirect";

    public static async ValueTask ApplyAsync(ResponseTransformContext transform)
    {
        var context = transform.HttpContext;
        var response = context.Response;
        if (transform.ProxyResponse is null || !response.Headers.Remove(Header, out var target))
        {
            return;
        }

        if (response.StatusCode is < 200 or > 299)
        {
            return; // an error page from the app stays the app's answer
        }

        var services = context.RequestServices;
        var catalog = services.GetRequiredService<StaticFileService>().Current(services.GetRequiredService<ConfigHolder>().Settings);

        transform.SuppressResponseBody = true;
        var record = context.Features.Get<RequestRecord>();
        // Headers that described the app's (empty) body, not the file.
        response.Headers.ContentLength = null;
        response.Headers.ContentEncoding = default;
        response.Headers.ContentRange = default;
        response.Headers.ETag = default;
        response.Headers.LastModified = default;
        response.Headers.AcceptRanges = default;

        var asset = Resolve(catalog, target.ToString(), out var mount);
        if (asset is null)
        {
            services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AccelRedirect).FullName!).LogWarning("X-Accel-Redirect to {Target} names no file in an internal mount; answering 404", target.ToString());
            response.Headers.ContentType = default;
            response.Headers.ContentDisposition = default;
            if (mount is not null)
            {
                await StaticFileContext.NotFoundAsync(context, mount, record);
            }
            else
            {
                response.StatusCode = StatusCodes.Status404NotFound;
                response.ContentLength = 0;
            }

            return;
        }

        await StaticFileContext.ServeAsync(context, mount!, asset, record, accel: true);
    }

    private static StaticAsset? Resolve(StaticCatalog catalog, string target, out MountCatalog? mount)
    {
        mount = null;
        var path = Decode(target);
        if (path is null || catalog.MatchInternal(path, out var relative) is not { } found)
        {
            return null;
        }

        mount = found;
        return StaticFileMiddleware.IsCanonical(relative) ? found.Find(relative) : null;
    }

    /// <summary>The header holds a URI path, possibly percent-encoded and with a query (ignored, as nginx's args are).</summary>
    private static string? Decode(string value)
    {
        var path = value.Trim();
        var query = path.IndexOf('?');
        if (query >= 0)
        {
            path = path[..query];
        }

        if (path.Length == 0 || path[0] != '/')
        {
            return null;
        }

        try
        {
            var decoded = Uri.UnescapeDataString(path);
            // Decoding once only: a %25 that became % must not be decoded again into a separator.
            return decoded.Contains('%') && decoded != path ? null : decoded;
        }
        catch (UriFormatException)
        {
            return null;
        }
    }
}
