using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.Forwarding;

/// <summary>
/// The request target goes to the app as the client wrote it, as nginx's <c>proxy_pass</c> without a URI sends it,
/// whenever the route left path and query alone. YARP rebuilds it through System.Uri, which rewrites what it
/// considers equivalent: <c>?x=%zz</c> reached the app's QUERY_STRING as <c>x=%25zz</c> and <c>/a%7Eb</c> its
/// RAW_URI as <c>/a~b</c>, which breaks URL signatures (webhooks that sign the URL they called) and anything that
/// reads the target as sent. A target the app would read as another path than the sidecar routed keeps YARP's form:
/// one with dot segments (routed normalized), an encoded slash (routed as one segment, while gunicorn decodes it
/// into two: <c>/admin%2Fusers</c> went by the catch-all route to the app's <c>/admin/users</c>), or a <c>#</c>
/// (routed with it, while gunicorn drops it as a fragment).
/// </summary>
public static class RawTarget
{
    private static readonly UriCreationOptions Verbatim = new() { DangerousDisablePathAndQueryCanonicalization = true };

    public static void Apply(RequestTransformContext transform)
    {
        var request = transform.HttpContext.Request;
        var raw = transform.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (raw is not ['/', ..]
            || request.PathBase.HasValue
            || !string.Equals(transform.Path.Value, request.Path.Value, StringComparison.Ordinal)
            || !string.Equals(transform.Query.QueryString.Value, request.QueryString.Value, StringComparison.Ordinal))
        {
            return;
        }

        var question = raw.IndexOf('?');
        var path = question < 0 ? raw : raw.AsSpan(0, question);
        if (raw.Contains('#') || path.IndexOf("%2f", StringComparison.OrdinalIgnoreCase) >= 0 || HasDotSegment(path))
        {
            return;
        }

        transform.ProxyRequest.RequestUri = new Uri(transform.DestinationPrefix.TrimEnd('/') + raw, in Verbatim);
    }

    internal static bool HasDotSegment(ReadOnlySpan<char> path)
    {
        if (path.IndexOf('.') < 0 && path.IndexOf("%2e", StringComparison.OrdinalIgnoreCase) < 0)
        {
            return false;
        }

        foreach (var range in path.Split('/'))
        {
            var segment = path[range];
            if (segment is "." or ".."
                || segment.Equals("%2e", StringComparison.OrdinalIgnoreCase)
                || (segment.Length is 4 or 6 && segment.ToString().Replace("%2e", ".", StringComparison.OrdinalIgnoreCase) == ".."))
            {
                return true;
            }
        }

        return false;
    }
}
