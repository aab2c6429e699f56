using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
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
        // NUL, CR and LF are still refused. Content-Length keeps Kestrel's own parsing: through the custom-encoding path
        // a value of 21 digits or more threw inside Kestrel, which dropped the connection without an answer or a log line.
        kestrel.RequestHeaderEncodingSelector = name => name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) ? null : Encoding.Latin1;
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

    /// <summary>
    /// How much of a connection's input the socket transport reads ahead of the request's reader. At its default,
    /// 1 MiB, every fast upload took up to 256 blocks of Kestrel's memory pool while its body went to the spool, and
    /// the pool keeps the blocks it has allocated: 30 concurrent 20 MiB uploads peaked at 68 MB resident and still
    /// held 64 MB afterwards, past a 64Mi container limit. With 128 KiB: 39 and 37 MB, CPU per MiB the same (1,383
    /// µs both); a 1 MiB upload costs about 10% more CPU, from more pauses of the socket reader. nginx reads bodies
    /// 16 KiB at a time. The request line and headers must still fit, or a large head would stall.
    /// </summary>
    public static void Configure(SocketTransportOptions sockets, SidecarSettings settings) =>
        sockets.MaxReadBufferSize = Math.Max(128 * 1024, settings.MaxRequestLine + settings.MaxHeaderSize);
}
