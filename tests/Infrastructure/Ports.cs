using System.Net;
using System.Net.Sockets;

namespace Sidecar.Tests.Infrastructure;

public static class Ports
{
    /// <summary>A loopback port that was free a moment ago (the OS hands out ephemeral ports round-robin, so reuse races are rare).</summary>
    public static int Free()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
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
