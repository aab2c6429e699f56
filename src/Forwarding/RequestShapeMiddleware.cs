using Sidecar.Logging;

namespace Sidecar.Forwarding;

/// <summary>
/// Refuses request framings that parsers disagree about, the raw material of request smuggling.
/// Kestrel already rejects invalid or conflicting Content-Length values and non-chunked transfer codings;
/// what it lets through and gunicorn 20.x mishandles is stopped here, before any other stage sees it.
/// </summary>
public sealed class RequestShapeMiddleware(RequestDelegate next, ILogger<RequestShapeMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (headers.TransferEncoding.Count == 0)
        {
            return next(context);
        }

        var problem = headers.ContentLength is not null || headers.ContainsKey("Content-Length")
            ? "the request has both Content-Length and Transfer-Encoding"
            : context.Request.Protocol == "HTTP/1.0"
                ? "Transfer-Encoding is not allowed in an HTTP/1.0 request"
                : headers.TransferEncoding.Count > 1 || !string.Equals(headers.TransferEncoding.ToString().Trim(), "chunked", StringComparison.OrdinalIgnoreCase)
                    ? $"Transfer-Encoding '{headers.TransferEncoding}' is not plain 'chunked'"
                    : null;

        return problem is null
            ? next(context)
            : RejectAsync(context, problem);
    }

    private async Task RejectAsync(HttpContext context, string problem)
    {
        // The body's framing cannot be trusted, so the connection cannot be reused for another request.
        context.Response.Headers.Connection = "close";
        await ProxyErrors.WriteAsync(context, StatusCodes.Status400BadRequest, Rejection.Smuggling, problem, logger);
    }
}
