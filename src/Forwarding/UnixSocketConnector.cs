using System.Net.Sockets;

namespace Sidecar.Forwarding;

/// <summary>
/// Connects a cluster's HTTP client to a Unix domain socket instead of TCP when the cluster's metadata names one
/// (SIDECAR_UPSTREAM=unix:/path puts it on the default cluster). gunicorn bound to a socket on a shared emptyDir
/// skips the loopback TCP stack on every request, and gunicorn's sync workers open one connection per request.
/// </summary>
public static class UnixSocketConnector
{
    public const string MetadataKey = "Sidecar.UnixSocket";

    public static void Apply(IReadOnlyDictionary<string, string>? clusterMetadata, SocketsHttpHandler handler)
    {
        if (clusterMetadata is null || !clusterMetadata.TryGetValue(MetadataKey, out var path))
        {
            return;
        }

        var endpoint = new UnixDomainSocketEndPoint(path);
        handler.ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(endpoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        };
    }

    /// <summary>Opens and closes a connection: the readiness probe's question, for a socket path.</summary>
    public static async Task ConnectOnceAsync(string path, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
    }
}
