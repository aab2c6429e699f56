using System.Net;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>
/// A cluster with two real gunicorns: YARP's load balancing, session affinity and passive health checks do
/// what the cluster's config says, counted by each app's own tally of requests it saw.
/// </summary>
public sealed class LoadBalancingTests : IAsyncLifetime
{
    private Gunicorn _a = null!;
    private Gunicorn _b = null!;
    private readonly ScratchDirectory _scratch = new("sidecar-lb-");

    public async Task InitializeAsync()
    {
        var started = await Task.WhenAll(Gunicorn.StartAsync(1), Gunicorn.StartAsync(1));
        (_a, _b) = (started[0], started[1]);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
        _scratch.Dispose();
    }

    /// <summary>FirstAlphabetical sends everything to the first destination; RoundRobin alternates.</summary>
    [Theory]
    [InlineData("FirstAlphabetical", 12, 0)]
    [InlineData("RoundRobin", 6, 6)]
    public async Task TheClustersPolicyPicksTheDestination(string policy, int seenByA, int seenByB)
    {
        using var sidecar = Start($$"""
            "LoadBalancingPolicy": "{{policy}}",
            "Destinations": { "a": { "Address": "{{_a.Address}}" }, "b": { "Address": "{{_b.Address}}" } }
            """);
        using var client = sidecar.Client();

        await GetOkAsync(client, 12);

        Assert.Equal((seenByA, seenByB), (_a.Seen(), _b.Seen()));
    }

    [Fact]
    public async Task SessionAffinityKeepsAClientOnItsDestination()
    {
        using var sidecar = Start($$"""
            "LoadBalancingPolicy": "RoundRobin",
            "SessionAffinity": { "Enabled": true, "Policy": "Cookie", "AffinityKeyName": "sidecar-affinity" },
            "Destinations": { "a": { "Address": "{{_a.Address}}" }, "b": { "Address": "{{_b.Address}}" } }
            """);
        using var client = sidecar.Client();

        var first = await client.GetAsync("/hello");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var cookie = Assert.Single(first.Headers.GetValues("Set-Cookie"), c => c.StartsWith("sidecar-affinity=")).Split(';')[0];
        for (var i = 0; i < 9; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/hello");
            request.Headers.Add("Cookie", cookie);
            Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
        }

        Assert.Contains((_a.Seen(), _b.Seen()), new[] { (10, 0), (0, 10) });
    }

    [Fact]
    public async Task PassiveHealthChecksStopSendingToADestinationThatFails()
    {
        var closed = Ports.Free();
        using var sidecar = Start($$"""
            "LoadBalancingPolicy": "RoundRobin",
            "HealthCheck": { "Passive": { "Enabled": true, "ReactivationPeriod": "00:05:00" } },
            "Destinations": { "a": { "Address": "{{_a.Address}}" }, "down": { "Address": "http://127.0.0.1:{{closed}}" } }
            """);
        using var client = sidecar.Client();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 40; i++)
        {
            statuses.Add((await client.GetAsync("/hello")).StatusCode);
        }

        // Before enough requests are seen to judge, round robin sends half of them to the closed port.
        Assert.Contains(HttpStatusCode.BadGateway, statuses.Take(10));
        Assert.All(statuses.TakeLast(15), status => Assert.Equal(HttpStatusCode.OK, status));
    }

    [Fact]
    public async Task ActiveHealthChecksTakeADeadDestinationOutOfRotation()
    {
        var closed = Ports.Free();
        using var sidecar = Start($$"""
            "LoadBalancingPolicy": "RoundRobin",
            "HealthCheck": { "Active": { "Enabled": true, "Interval": "00:00:01", "Timeout": "00:00:01", "Path": "/hello" } },
            "Destinations": { "a": { "Address": "{{_a.Address}}" }, "down": { "Address": "http://127.0.0.1:{{closed}}" } }
            """);
        using var client = sidecar.Client();

        // YARP's default policy marks a destination down after two failed probes, a second apart.
        var inARow = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (inARow < 10 && DateTime.UtcNow < deadline)
        {
            inARow = (await client.GetAsync("/hello")).StatusCode == HttpStatusCode.OK ? inARow + 1 : 0;
            await Task.Delay(100);
        }

        Assert.Equal(10, inARow);
    }

    private SidecarFactory Start(string cluster)
    {
        var config = Path.Combine(_scratch.Path, $"sidecar-{Guid.NewGuid():N}.json");
        File.WriteAllText(config, $$"""
            { "ReverseProxy": {
                "Routes": { "all": { "ClusterId": "pair", "Match": { "Path": "/{**catch-all}" } } },
                "Clusters": { "pair": { {{cluster}} } } } }
            """);
        return new SidecarFactory(_a.Address, new Dictionary<string, string> { ["SIDECAR_CONFIG"] = config });
    }

    private static async Task GetOkAsync(HttpClient client, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hello")).StatusCode);
        }
    }
}
