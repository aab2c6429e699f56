using Microsoft.AspNetCore.Server.Kestrel.Core;
using Sidecar.Configuration;

namespace Sidecar.Hosting;

/// <summary>
/// The client-facing limits that make slow and abusive clients the sidecar's problem instead of gunicorn's.
/// Kestrel enforces them itself: header timeout (408), header size and count (431), request line (414),
/// body and response data rates (connection closed), keep-alive idle time.
/// </summary>
public static class KestrelSetup
{
    public static void Configure(KestrelServerOptions kestrel, SidecarSettings settings)
    {
        kestrel.AddServerHeader = false;
        kestrel.ListenAnyIP(settings.Port);
        kestrel.ListenAnyIP(settings.AdminPort);

        var limits = kestrel.Limits;
        limits.MaxRequestBodySize = settings.MaxBodySize > 0 ? settings.MaxBodySize : null;
        limits.RequestHeadersTimeout = settings.HeaderTimeout;
        limits.KeepAliveTimeout = settings.KeepAliveTimeout;
        limits.MaxRequestHeadersTotalSize = checked((int)settings.MaxHeaderSize);
        limits.MaxRequestHeaderCount = settings.MaxHeaderCount;
        limits.MaxRequestLineSize = checked((int)settings.MaxRequestLine);
        limits.MinRequestBodyDataRate = settings.MinRequestBodyRate > 0
            ? new MinDataRate(settings.MinRequestBodyRate, settings.RateGracePeriod)
            : null;
        limits.MinResponseDataRate = settings.MinResponseRate > 0
            ? new MinDataRate(settings.MinResponseRate, settings.RateGracePeriod)
            : null;
    }
}
