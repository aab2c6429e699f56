using System.Net;
using System.Net.Sockets;

namespace Sidecar.Forwarding;

/// <summary>
/// Opens the sockets a cluster's HTTP client sends its requests down. gunicorn's sync workers close every connection
/// after one response, so this runs once per proxied request and its system calls are on the hot path.
/// <list type="bullet">
/// <item>A cluster whose metadata names a Unix socket (SIDECAR_UPSTREAM=unix:/path) connects to it instead of TCP:
/// gunicorn bound to a socket on a shared emptyDir skips the loopback TCP stack.</item>
/// <item>An IP address connects from a socket of its own family. HttpClient's default is a dual-mode IPv6 socket,
/// which costs three more socket-option calls and the IPv6 connect path for an IPv4 upstream.</item>
/// <item>Closing a connection closes the socket without <c>shutdown</c> first. HttpClient's default shuts the socket
/// down, which raises a hang-up event that wakes the socket engine's thread for a socket about to be closed; a plain
/// close sends the same FIN and leaves the engine asleep.</item>
/// </list>
/// </summary>
public static class UpstreamConnector
{
    public const string UnixSocketMetadataKey = "Sidecar.UnixSocket";

    public static void Apply(IReadOnlyDictionary<string, string>? clusterMetadata, SocketsHttpHandler handler)
    {
        if (clusterMetadata is not null && clusterMetadata.TryGetValue(UnixSocketMetadataKey, out var path))
        {
            var endpoint = new UnixDomainSocketEndPoint(path);
            handler.ConnectCallback = (_, cancellationToken) => ConnectAsync(UnixSocket(), endpoint, cancellationToken);
            return;
        }

        handler.ConnectCallback = (context, cancellationToken) =>
        {
            var (socket, endpoint) = TcpSocket(context.DnsEndPoint.Host, context.DnsEndPoint.Port);
            return ConnectAsync(socket, endpoint, cancellationToken);
        };
    }

    /// <summary>Opens and closes a connection the way requests open theirs: the readiness probe's question.</summary>
    public static async Task ConnectOnceAsync(Uri upstream, string? socketPath, CancellationToken cancellationToken)
    {
        var (socket, endpoint) = socketPath is null
            ? TcpSocket(upstream.DnsSafeHost, upstream.Port)
            : (UnixSocket(), new UnixDomainSocketEndPoint(socketPath));
        await using var connection = await ConnectAsync(socket, endpoint, cancellationToken);
    }

    /// <summary>
    /// A Unix socket that is not there fails with ENOENT, which .NET reports as "Cannot assign requested address":
    /// no help to someone whose gunicorn has not created its socket yet, or binds elsewhere.
    /// </summary>
    private static SocketException? Explain(SocketException e, EndPoint endpoint) =>
        endpoint is UnixDomainSocketEndPoint unix && e.SocketErrorCode == SocketError.AddressNotAvailable
            ? new SocketException((int)e.SocketErrorCode, $"no socket at {unix} (is gunicorn running with --bind unix:{unix}?)")
            : null;

    private static Socket UnixSocket() => new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);

    private static (Socket Socket, EndPoint EndPoint) TcpSocket(string host, int port)
    {
        if (IPAddress.TryParse(host, out var address))
        {
            return (new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }, new IPEndPoint(address, port));
        }

        // A host name may resolve to IPv4 or IPv6 addresses: the dual-mode socket tries them all, as HttpClient does.
        return (new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }, new DnsEndPoint(host, port));
    }

    private static async ValueTask<Stream> ConnectAsync(Socket socket, EndPoint endpoint, CancellationToken cancellationToken)
    {
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken);
            return new CloseWithoutShutdownStream(socket);
        }
        catch (Exception e)
        {
            socket.Dispose();
            if (e is SocketException socketError && Explain(socketError, endpoint) is { } explained)
            {
                throw explained;
            }

            throw;
        }
    }

    /// <summary>
    /// A NetworkStream, so HttpClient still finds the socket to check a pooled connection's health, that closes its
    /// socket without shutting it down first.
    /// </summary>
    /// <remarks>
    /// It also keeps HttpClient from sending a request again. When a connection ends before the first byte of a response,
    /// HttpClient takes it for a server that dropped an idle connection and retries a bodiless request, up to three
    /// times, on new connections too: a GET to a gunicorn worker that died or hit its timeout ran four times, side
    /// effects included (RFC 9110 §9.2.2; nginx tries once). A new connection that ends before any response byte
    /// arrived has delivered the request, so that end is reported as a failure HttpClient does not retry. A reused
    /// connection's end goes through unchanged: the request may never have reached the app, and the retry is safe.
    /// </remarks>
    private sealed class CloseWithoutShutdownStream(Socket socket) : NetworkStream(socket, ownsSocket: false)
    {
        private bool _received;

        public override int Read(Span<byte> buffer) => Received(base.Read(buffer), buffer.Length);

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            try
            {
                return Received(await base.ReadAsync(buffer, cancellationToken), buffer.Length);
            }
            catch (IOException e) when (!_received && e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
            {
                throw new HttpIOException(HttpRequestError.ResponseEnded, "the upstream reset the connection without answering", e);
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Received(int read, int wanted)
        {
            if (read > 0)
            {
                _received = true;
            }
            else if (wanted > 0 && !_received)
            {
                throw new HttpIOException(HttpRequestError.ResponseEnded, "the upstream closed the connection without answering");
            }

            return read;
        }

        protected override void Dispose(bool disposing)
        {
            base.Dispose(disposing);
            if (disposing)
            {
                Socket.Dispose();
            }
        }
    }
}
