// The least a proxy on .NET's async sockets can do for scenario a (GET /hello): read a request head, open a
// connection to the upstream, send the head, read the response to the upstream's close, send it back on the
// client's keep-alive connection. No Kestrel, middleware, YARP or HttpClient, and no buffering, limits or error
// handling: it measures what the socket engine alone costs per request, not a product. Configured like the
// sidecar (SIDECAR_PORT, SIDECAR_UPSTREAM=http://127.0.0.1:PORT) so the benchmark can run it as a variant.
using System.Net;
using System.Net.Sockets;
using System.Text;

var port = int.Parse(Environment.GetEnvironmentVariable("SIDECAR_PORT") ?? "8080");
var upstreamUri = new Uri(Environment.GetEnvironmentVariable("SIDECAR_UPSTREAM") ?? "http://127.0.0.1:8000");
var upstream = new IPEndPoint(IPAddress.Parse(upstreamUri.Host), upstreamUri.Port);

using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(512);
while (true)
{
    var client = await listener.AcceptAsync();
    client.NoDelay = true;
    _ = Task.Run(() => ServeAsync(client, upstream));
}

static async Task ServeAsync(Socket client, IPEndPoint upstream)
{
    var head = new byte[16 * 1024];
    var response = new byte[64 * 1024];
    try
    {
        while (true)
        {
            int length = 0, end;
            while ((end = HeadLength(head, length)) < 0)
            {
                var read = await client.ReceiveAsync(head.AsMemory(length), SocketFlags.None);
                if (read == 0)
                {
                    return;
                }

                length += read;
            }

            using var connection = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await connection.ConnectAsync(upstream);
            await connection.SendAsync(head.AsMemory(0, end), SocketFlags.None);
            int received = 0, chunk;
            while ((chunk = await connection.ReceiveAsync(response.AsMemory(received), SocketFlags.None)) > 0)
            {
                received += chunk;
            }

            // gunicorn's sync workers answer "Connection: close"; the client's connection stays open.
            var text = Encoding.Latin1.GetString(response, 0, received).Replace("Connection: close", "Connection: keep-alive");
            await client.SendAsync(Encoding.Latin1.GetBytes(text), SocketFlags.None);
        }
    }
    catch (SocketException)
    {
    }
    finally
    {
        client.Dispose();
    }
}

static int HeadLength(byte[] buffer, int length)
{
    var at = buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8);
    return at < 0 ? -1 : at + 4;
}
