using System.Text;
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
        // Header values pass through byte for byte, as through nginx: a client's UTF-8 X-File-Name, or the latin-1
        // filename Django writes into Content-Disposition. Kestrel's defaults (UTF-8 in, ASCII out) answered the
        // first with a 502 or a 400 and the second with a 502. Latin-1 maps every byte to one char and back;
        // NUL, CR and LF are still refused.
        kestrel.RequestHeaderEncodingSelector = _ => Encoding.Latin1;
        kestrel.ResponseHeaderEncodingSelector = _ => Encoding.Latin1;
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
