using Sidecar.Logging;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.Forwarding;

/// <summary>
/// A 204 never has content (RFC 9110 §15.3.5), yet an app can still declare some: Django's
/// <c>HttpResponse(content, status=204)</c> sends <c>Content-Length: N</c> and the bytes. HttpClient rightly reads no
/// body for a 204, so forwarding the header made Kestrel fail the response as too short, and the client got a bare
/// 500. nginx drops the header for a 204; so does the sidecar, and says which path sent it so the app can be fixed.
/// </summary>
public static class NoContentFraming
{
    public static ValueTask ApplyAsync(ResponseTransformContext context)
    {
        var http = context.HttpContext;
        var response = http.Response;
        if (response.StatusCode == StatusCodes.Status204NoContent && response.ContentLength > 0)
        {
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Sidecar.Forwarding").LogWarning(
                "204 {Method} {Path}: the upstream declared Content-Length: {Length} on a 204, which has no content; forwarded without it [request {RequestId}]",
                http.Request.Method, http.Request.Path.Value, response.ContentLength, http.Features.Get<RequestRecord>()?.RequestId);
            response.ContentLength = null;
        }

        return ValueTask.CompletedTask;
    }
}
