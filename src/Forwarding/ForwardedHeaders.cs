using System.Net;
using Sidecar.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.Forwarding;

/// <summary>
/// X-Forwarded-For/-Proto/-Host the way the nginx sidecar config did them, but spoof-proof: values from a
/// trusted peer (an ingress that terminated TLS) are kept and the peer is appended to the chain; from anyone
/// else they are replaced by what the sidecar itself saw. gunicorn's forwarded_allow_ips=127.0.0.1 then
/// makes Django's SECURE_PROXY_SSL_HEADER safe by construction. Their relatives that the sidecar does not set
/// (X-Forwarded-Port and -Prefix, which Django's USE_X_FORWARDED_PORT and Werkzeug's ProxyFix read; the scheme
/// headers gunicorn's secure_scheme_headers read; X-Real-IP) reach the app only from a trusted peer.
/// </summary>
public static class ForwardedHeaders
{
    private const string For = "X-Forwarded-For";
    private const string Proto = "X-Forwarded-Proto";
    private const string Host = "X-Forwarded-Host";

    private static readonly string[] TrustedOnly =
    [
        "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Ssl", "X-Forwarded-Protocol", "X-Forwarded-Scheme",
        "X-Url-Scheme", "X-Real-IP",
    ];

    public static void Apply(RequestTransformContext context, SidecarSettings settings)
    {
        var request = context.HttpContext.Request;
        var outgoing = context.ProxyRequest.Headers;
        var peer = PeerAddress(context.HttpContext.Connection);
        var trusted = peer is not null && IsTrusted(peer, settings.TrustedNetworks);

        outgoing.Remove(For);
        outgoing.Remove(Proto);
        outgoing.Remove(Host);
        outgoing.Remove("Forwarded");
        if (!trusted)
        {
            foreach (var name in TrustedOnly)
            {
                outgoing.Remove(name);
            }
        }

        var peerText = peer?.ToString();
        var incomingFor = request.Headers[For].ToString();
        var chain = trusted && incomingFor.Length > 0
            ? peerText is null ? incomingFor : $"{incomingFor}, {peerText}"
            : peerText;
        if (chain is not null)
        {
            outgoing.TryAddWithoutValidation(For, chain);
        }

        var incomingProto = request.Headers[Proto].ToString();
        outgoing.TryAddWithoutValidation(Proto, trusted && IsScheme(incomingProto) ? incomingProto : request.Scheme);

        var incomingHost = request.Headers[Host].ToString();
        var host = trusted && incomingHost.Length > 0 ? incomingHost : request.Host.Value;
        if (!string.IsNullOrEmpty(host))
        {
            outgoing.TryAddWithoutValidation(Host, host);
        }
    }

    /// <summary>
    /// The peer's address as people write it: the sidecar listens dual-stack, so IPv4 clients arrive as
    /// ::ffff:a.b.c.d, which neither logs nor IPv4 CIDRs should have to know about.
    /// </summary>
    public static IPAddress? PeerAddress(ConnectionInfo connection) =>
        connection.RemoteIpAddress is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : connection.RemoteIpAddress;

    public static bool IsTrusted(IPAddress address, IReadOnlyList<IPNetwork> networks)
    {
        foreach (var network in networks)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsScheme(string value) => value is "http" or "https";
}
