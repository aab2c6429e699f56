using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Sidecar.Tests.Infrastructure;

/// <summary>Hand-written HTTP/1.1 over a socket, for framings a well-behaved client library refuses to send.</summary>
public static class RawHttp
{
    /// <summary>
    /// Sends <paramref name="request"/> verbatim, one byte per character (Latin-1, so tests can write any byte), and
    /// returns everything the server sent until it closed or went quiet, decoded the same way.
    /// </summary>
    public static async Task<string> ExchangeAsync(int port, string request, TimeSpan? quiet = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        return await ReadUntilQuietAsync(stream, quiet ?? TimeSpan.FromSeconds(2));
    }

    /// <summary>Connects and sends <paramref name="request"/> (Latin-1), leaving the connection open for the caller.</summary>
    public static async Task<TcpClient> SendAsync(int port, string request)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await client.GetStream().WriteAsync(Encoding.Latin1.GetBytes(request));
        return client;
    }

    public static async Task<string> ReadUntilQuietAsync(NetworkStream stream, TimeSpan quiet)
    {
        var received = new StringBuilder();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            using var cts = new CancellationTokenSource(quiet);
            int read;
            try
            {
                read = await stream.ReadAsync(buffer, cts.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException)
            {
                break;
            }

            if (read == 0)
            {
                break;
            }

            received.Append(Encoding.Latin1.GetString(buffer, 0, read));
        }

        return received.ToString();
    }

    /// <summary>Everything after the first response's head: its body, for a response that ends the exchange.</summary>
    public static string Body(string response) => response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];

    /// <summary>The status code of the first response in <paramref name="response"/>, or 0 when there is none.</summary>
    public static int Status(string response) =>
        response.StartsWith("HTTP/1.", StringComparison.Ordinal) && response.Length >= 12 ? int.Parse(response.AsSpan(9, 3)) : 0;
}
