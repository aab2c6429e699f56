using Microsoft.AspNetCore.Http.Features;
using Sidecar.Logging;
using Sidecar.Telemetry;

namespace Sidecar.Forwarding;

/// <summary>
/// Refuses request framings that parsers disagree about, the raw material of request smuggling.
/// Kestrel already rejects invalid and conflicting Content-Length values and non-chunked transfer codings;
/// what it tolerates (Content-Length beside Transfer-Encoding, chunked on HTTP/1.0) is stopped here, before
/// any other stage sees the request. Whatever passes is re-framed with a clean Content-Length upstream anyway.
/// Also refuses the two methods a reverse proxy in front of an app does not pass on, as nginx does: CONNECT
/// (a tunnel request; YARP cannot forward it and it surfaced as a 502 counted as an upstream failure, so every
/// scanner probing for open proxies set off the upstream alert) and TRACE (it echoes the request back);
/// and <c>OPTIONS *</c>, which cannot be forwarded as it was asked. A method in lower case is refused as nginx refuses
/// it: ASP.NET Core's checks and HttpClient take "head" for HEAD while Kestrel does not, so the sidecar sent no body
/// where Kestrel expected one and the client got a 500. Header names with underscores go too.
/// </summary>
public sealed class RequestShapeMiddleware(RequestDelegate next, ILogger<RequestShapeMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        var method = context.Request.Method;
        if (method.AsSpan().IndexOfAnyInRange('a', 'z') >= 0)
        {
            return BadRequestAsync(context,
                $"method names are case-sensitive and the sidecar takes them in capitals only: send {method.ToUpperInvariant()}, not {method}");
        }

        if (HttpMethods.IsConnect(method) || HttpMethods.IsTrace(method))
        {
            return ProxyErrors.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, Rejection.MethodNotAllowed,
                $"the sidecar does not pass {method} requests on to the app", logger);
        }

        // "OPTIONS *" asks about the server as a whole. HttpClient cannot send an asterisk target, so YARP would pass it
        // on as "OPTIONS /", a question about the home page; nginx refuses it the same way.
        if (HttpMethods.IsOptions(method) && context.Features.Get<IHttpRequestFeature>()?.RawTarget == "*")
        {
            return BadRequestAsync(context,
                "OPTIONS * asks about the server as a whole, and the sidecar cannot pass it on to the app unchanged");
        }

        if (TargetProblem(context) is { } targetProblem)
        {
            return BadRequestAsync(context, targetProblem);
        }

        var headers = context.Request.Headers;
        if (!DropUnderscoreHeaders(headers, out var badName))
        {
            return RejectAsync(context, $"header name '{Printable(badName)}' holds a character a header name cannot have");
        }

        // An empty Host went upstream beside the one HttpClient makes from the destination: two Host headers.
        if (headers.Host.Count == 1 && string.IsNullOrWhiteSpace(headers.Host[0]))
        {
            return BadRequestAsync(context, "the Host header is empty: send the site's name in it");
        }

        if (headers.TransferEncoding.Count == 0)
        {
            return next(context);
        }

        var problem = Problem(context.Request);
        return problem is null ? next(context) : RejectAsync(context, problem);
    }

    /// <summary>
    /// Header names with an underscore are dropped, as nginx does by default (underscores_in_headers off). WSGI folds
    /// '-' and '_' into one name, and gunicorn joins the values: X_Forwarded_Proto from any client reached Django as
    /// X-Forwarded-Proto "https,http", whose first value SECURE_PROXY_SSL_HEADER reads, past the sidecar's own.
    /// A name that is not a token (RFC 9110 §5.1) fails the request, as in nginx: Kestrel takes control characters
    /// in names, so "Content-Length\v: 40" was no Content-Length here, the body was read as a second request, and
    /// any proxy in front that trims \v read a body of 40 bytes.
    /// </summary>
    /// <returns>False, with the name, when a name is not a token.</returns>
    private static bool DropUnderscoreHeaders(IHeaderDictionary headers, out string badName)
    {
        List<string>? names = null;
        badName = "";
        // Not headers.Keys: Kestrel builds a HashSet for it on every call.
        foreach (var header in headers)
        {
            if (header.Key.AsSpan().ContainsAnyExcept(TokenCharacters))
            {
                badName = header.Key;
                return false;
            }

            if (header.Key.Contains('_'))
            {
                (names ??= []).Add(header.Key);
            }
        }

        if (names is not null)
        {
            foreach (var name in names)
            {
                headers.Remove(name);
            }
        }

        return true;
    }

    /// <summary>
    /// Targets the sidecar and the app would read as different paths, refused as nginx refuses them. Kestrel takes
    /// control characters in the target, which gunicorn deletes while parsing it: "/adm\tin/x" went by the catch-all
    /// route to the app's /admin/x. And an absolute-form target has its %2F decoded by Kestrel without the dot
    /// segments that then appear being resolved, while HttpClient resolves them: "http://h/x%2F..%2Fadmin" went by
    /// the catch-all route to the app's /admin.
    /// </summary>
    private static string? TargetProblem(HttpContext context)
    {
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (target is null)
        {
            return null;
        }

        if (target.AsSpan().IndexOfAnyInRange('\0', '\x1f') >= 0 || target.Contains('\x7f'))
        {
            return "the request target holds a control character; percent-encode it";
        }

        return target is not ['/', ..] && RawTarget.HasDotSegment(context.Request.Path.Value)
            ? "the request target's path holds dot segments once its %2F are decoded; send the path it means"
            : null;
    }

    private static readonly System.Buffers.SearchValues<char> TokenCharacters =
        System.Buffers.SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static string Printable(string name) =>
        string.Concat(name.Select(c => c is < ' ' or > '~' ? $"\\x{(int)c:x2}" : c.ToString()));

    private static string? Problem(HttpRequest request)
    {
        var headers = request.Headers;
        // Kestrel keeps a Content-Length that arrived beside Transfer-Encoding only under the name X-Content-Length.
        if (headers.ContentLength is not null || headers.ContainsKey("X-Content-Length"))
        {
            return "the request has both Content-Length and Transfer-Encoding";
        }

        if (request.Protocol == "HTTP/1.0")
        {
            return "Transfer-Encoding is not allowed in an HTTP/1.0 request";
        }

        return headers.TransferEncoding.Count > 1 || !string.Equals(headers.TransferEncoding.ToString().Trim(), "chunked", StringComparison.OrdinalIgnoreCase)
            ? $"Transfer-Encoding '{headers.TransferEncoding}' is not plain 'chunked'"
            : null;
    }

    /// <summary>A request that is well framed but cannot go on as it is: answered, and the connection kept.</summary>
    private Task BadRequestAsync(HttpContext context, string problem) =>
        ProxyErrors.WriteAsync(context, StatusCodes.Status400BadRequest, ConnectionRejections.BadRequest, problem, logger);

    private async Task RejectAsync(HttpContext context, string problem)
    {
        // The body's framing cannot be trusted, so the connection cannot be reused for another request.
        context.Response.Headers.Connection = "close";
        await ProxyErrors.WriteAsync(context, StatusCodes.Status400BadRequest, Rejection.Smuggling, problem, logger);
    }
}
