using System.Net;
using System.Text.RegularExpressions;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>
/// The sockets the sidecar opens to the upstream: one per request with gunicorn's sync workers, so how they are
/// opened and closed is on every request's path.
/// </summary>
public sealed class UpstreamConnectionTests
{
    [Fact]
    public async Task ForwardsToAnUpstreamNamedByHostName()
    {
        await using var gunicorn = await Gunicorn.StartAsync();
        using var sidecar = new SidecarFactory(new Uri($"http://localhost:{gunicorn.Port}"));
        using var client = sidecar.Client();
        for (var i = 0; i < 3; i++)
        {
            var response = await client.GetAsync("/hello");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("{\"hello\": \"world\"}", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task ForwardsToAnIPv6Upstream()
    {
        var port = Ports.Free();
        await using var gunicorn = await Gunicorn.StartAsync(2, null, "--bind", $"[::1]:{port}");
        using var sidecar = new SidecarFactory(new Uri($"http://[::1]:{port}"));
        using var client = sidecar.Client();
        var echo = await client.PostAsync("/echo", new ByteArrayContent(new byte[200_000]));
        Assert.Equal(HttpStatusCode.OK, echo.StatusCode);
        Assert.Contains("\"length\": 200000", await echo.Content.ReadAsStringAsync());
        Assert.Equal(1, gunicorn.Seen());
    }

    /// <summary>
    /// Read from the process's system calls (strace): an IPv4 upstream gets IPv4 sockets, not HttpClient's dual-mode
    /// IPv6 ones, and each is closed without a shutdown first, which would wake the socket engine's thread for nothing.
    /// </summary>
    [Fact]
    public async Task UpstreamSocketsAreIPv4AndClosedWithoutShutdown()
    {
        await using var gunicorn = await Gunicorn.StartAsync();
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address);
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hello")).StatusCode);

        var trace = Path.Combine(Path.GetTempPath(), $"sidecar-strace-{Guid.NewGuid():N}.txt");
        try
        {
            await using (var strace = new ExternalProcess("strace",
                             ["-f", "-e", "trace=socket,shutdown,close", "-o", trace, "-p", sidecar.Process.Id.ToString()]))
            {
                var attached = DateTime.UtcNow.AddSeconds(10);
                while (!strace.Output.Contains("attached") && DateTime.UtcNow < attached)
                {
                    await Task.Delay(20);
                }

                Assert.Contains("attached", strace.Output);
                for (var i = 0; i < 20; i++)
                {
                    Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hello")).StatusCode);
                }

                strace.Signal(2);
                Assert.True(await strace.WaitForExitAsync(TimeSpan.FromSeconds(10)), strace.Output);
            }

            var calls = File.ReadAllLines(trace);
            var upstreamSockets = new HashSet<string>();
            var opened = 0;
            foreach (var call in calls)
            {
                if (Regex.Match(call, @"socket\((AF_INET6?), SOCK_STREAM[^)]*\) += (\d+)") is { Success: true } socket)
                {
                    Assert.True(socket.Groups[1].Value == "AF_INET", $"an IPv4 upstream got a dual-mode socket: {call}");
                    upstreamSockets.Add(socket.Groups[2].Value);
                    opened++;
                }
                else if (Regex.Match(call, @"shutdown\((\d+),") is { Success: true } shutdown)
                {
                    Assert.False(upstreamSockets.Contains(shutdown.Groups[1].Value), $"an upstream socket was shut down before closing: {call}");
                }
                else if (Regex.Match(call, @"close\((\d+)\) += 0") is { Success: true } close)
                {
                    upstreamSockets.Remove(close.Groups[1].Value);
                }
            }

            Assert.True(opened >= 20, $"expected a socket per request, saw {opened}:\n{string.Join('\n', calls.Take(40))}");
        }
        finally
        {
            File.Delete(trace);
        }
    }
}
