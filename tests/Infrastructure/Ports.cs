using System.Net;
using System.Net.Sockets;

namespace Sidecar.Tests.Infrastructure;

public static class Ports
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> HandedOut = new();

    /// <summary>
    /// A loopback port that was free a moment ago and was never handed out before in this test run: the OS can give
    /// the same ephemeral port to two calls in a row (seen once as a sidecar whose Port and AdminPort were equal).
    /// </summary>
    public static int Free()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (HandedOut.TryAdd(port, true))
            {
                return port;
            }
        }
    }

    public static async Task WaitUntilListeningAsync(int port, TimeSpan timeout, Func<string>? describeFailure = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        throw new TimeoutException($"nothing listened on 127.0.0.1:{port} within {timeout}. {describeFailure?.Invoke()}");
    }
}
