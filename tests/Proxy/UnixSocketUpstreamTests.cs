using System.Net;
using Sidecar.Configuration;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>SIDECAR_UPSTREAM=unix:/path: gunicorn bound to a Unix domain socket, as on a shared emptyDir.</summary>
public sealed class UnixSocketUpstreamTests
{
    [Fact]
    public async Task ForwardsToGunicornOnAUnixSocketAndIsReadyOnlyWhileItListens()
    {
        var directory = Directory.CreateTempSubdirectory("sidecar-uds-").FullName;
        var socket = Path.Combine(directory, "gunicorn.sock");
        try
        {
            await using (var gunicorn = await Gunicorn.StartAsync(2, null, "--bind", $"unix:{socket}"))
            {
                // A TCP upstream that is never used: the socket setting replaces it.
                using var sidecar = new SidecarFactory(new Uri("http://127.0.0.1:9"), new Dictionary<string, string>
                {
                    ["SIDECAR_UPSTREAM"] = $"unix:{socket}",
                });
                using var client = sidecar.Client();
                var hello = await client.GetAsync("/hello");
                Assert.Equal(HttpStatusCode.OK, hello.StatusCode);
                Assert.Equal("{\"hello\": \"world\"}", await hello.Content.ReadAsStringAsync());

                // A buffered upload arrives whole, with the client's Host, over the socket.
                var echo = await client.PostAsync("/echo", new ByteArrayContent(new byte[300_000]));
                Assert.Equal(HttpStatusCode.OK, echo.StatusCode);
                Assert.Contains("\"length\": 300000", await echo.Content.ReadAsStringAsync());

                using var admin = sidecar.Client(admin: true);
                Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/ready")).StatusCode);
            }

            // gunicorn is gone (its socket file with it): readiness must say so, naming the socket.
            using var orphan = new SidecarFactory(new Uri("http://127.0.0.1:9"), new Dictionary<string, string>
            {
                ["SIDECAR_UPSTREAM"] = $"unix:{socket}",
            });
            using var orphanAdmin = orphan.Client(admin: true);
            var notReady = await orphanAdmin.GetAsync("/healthz/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
            Assert.Contains($"unix:{socket}", await notReady.Content.ReadAsStringAsync());

            // A socket that was never created is said in words (.NET reports ENOENT as "Cannot assign requested
            // address"), by readiness and by the 502, which names the socket rather than a placeholder address.
            var missing = Path.Combine(directory, "never.sock");
            using var unbound = new SidecarFactory(new Uri("http://127.0.0.1:9"), new Dictionary<string, string> { ["SIDECAR_UPSTREAM"] = $"unix:{missing}" });
            using var unboundAdmin = unbound.Client(admin: true);
            Assert.Contains($"no socket at {missing}", await (await unboundAdmin.GetAsync("/healthz/ready")).Content.ReadAsStringAsync());
            using var refused = await unbound.Client().GetAsync("/hello");
            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
            Assert.Contains($"cannot reach upstream unix:{missing}: no socket at {missing}", await refused.Content.ReadAsStringAsync());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData("unix:relative/gunicorn.sock")]
    [InlineData("unix:")]
    public void RejectsASocketThatIsNotAnAbsolutePath(string value)
    {
        var e = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(null, null, key => key == "SIDECAR_UPSTREAM" ? value : null));
        Assert.Contains(e.Problems, p => p.Contains("SIDECAR_UPSTREAM") && p.Contains("unix:/path/to/gunicorn.sock"));
    }
}
