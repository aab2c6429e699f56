using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Sidecar.Configuration;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Admission;

/// <summary>
/// Admission control against real gunicorn sync workers: the app's own counters (requests seen, peak
/// concurrency) prove what reached it, and the sidecar's metrics are read as a scraper would.
/// </summary>
[Collection(QueueMetrics.Collection)]
public sealed class AdmissionTests
{
    [Fact]
    public async Task FiftyClientsNeverPutMoreThanTwoRequestsOnTwoWorkers()
    {
        await using var gunicorn = await Gunicorn.StartAsync(2);
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_UPSTREAM_CONCURRENCY"] = "2",
            ["SIDECAR_QUEUE_TIMEOUT"] = "60s",
        });
        using var metrics = new QueueMetrics(sidecar);
        using var client = new HttpClient { BaseAddress = sidecar.Address, Timeout = TimeSpan.FromSeconds(90) };

        var requests = Enumerable.Range(0, 50).Select(_ => client.GetAsync("/sleep?s=0.1")).ToArray();
        var all = Task.WhenAll(requests);
        double mostWaiting = 0, mostInUse = 0;
        while (!all.IsCompleted)
        {
            mostWaiting = Math.Max(mostWaiting, await metrics.Waiting());
            mostInUse = Math.Max(mostInUse, await metrics.InUse());
            await Task.Delay(25);
        }

        var responses = await all;
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(2, gunicorn.PeakConcurrency());
        Assert.Equal(50, gunicorn.Seen());

        Assert.Equal(2, mostInUse);
        Assert.True(mostWaiting >= 1, "no request was ever seen waiting in the queue");
        Assert.Equal(50, await metrics.WaitCount());
        // 50 requests on 2 slots: at most the first few get in without waiting for a 0.1 s request to finish.
        Assert.True(await metrics.WaitBucket("0.025") <= 25, "most requests should have waited for a slot");
        Assert.True(await metrics.WaitSum() > 1, "50 requests of 0.1 s on 2 slots add up to well over a second of waiting");
        Assert.Equal(0, await metrics.Waiting());
        Assert.Equal(0, await metrics.InUse());
        Assert.Equal(2, await metrics.Limit());
        Assert.Equal(0, await metrics.Rejections("queue_timeout"));
        Assert.Equal(0, await metrics.Rejections("queue_full"));
    }

    [Fact]
    public async Task QueueTimeoutAnswers503WithRetryAfterAndNeverForwards()
    {
        await using var upstream = await OneSlotUpstream.StartAsync(2, new Dictionary<string, string> { ["SIDECAR_QUEUE_TIMEOUT"] = "300ms" });

        var refused = await upstream.Client.GetAsync("/hello");

        await AssertBusyAsync(refused, "SIDECAR_QUEUE_TIMEOUT");
        Assert.Equal(HttpStatusCode.OK, (await upstream.Holder).StatusCode);
        Assert.Equal(1, upstream.Gunicorn.Seen());
        Assert.Equal(1, await upstream.Metrics.Rejections("queue_timeout"));
    }

    [Fact]
    public async Task FullQueueAnswers503WithRetryAfterAtOnce()
    {
        await using var upstream = await OneSlotUpstream.StartAsync(1, new Dictionary<string, string>
        {
            ["SIDECAR_QUEUE_LENGTH"] = "1",
            ["SIDECAR_QUEUE_TIMEOUT"] = "60s",
        });

        var queued = upstream.Client.GetAsync("/hello");
        await QueueMetrics.UntilAsync(upstream.Metrics.Waiting, 1, "second request queued");
        var refused = await upstream.Client.PostAsync("/echo", new StringContent("never forwarded"));

        await AssertBusyAsync(refused, "SIDECAR_QUEUE_LENGTH");
        Assert.False(upstream.Holder.IsCompleted, "the full-queue answer must not wait for a slot");
        Assert.Equal(HttpStatusCode.OK, (await upstream.Holder).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await queued).StatusCode);
        Assert.Equal(2, upstream.Gunicorn.Seen());
        Assert.Equal(1, await upstream.Metrics.Rejections("queue_full"));
    }

    [Fact]
    public async Task ClientThatLeavesWhileQueuedNeverReachesTheApp()
    {
        await using var upstream = await OneSlotUpstream.StartAsync(1, new Dictionary<string, string> { ["SIDECAR_QUEUE_TIMEOUT"] = "60s" });
        var metrics = upstream.Metrics;
        using (var leaver = new TcpClient())
        {
            await leaver.ConnectAsync(IPAddress.Loopback, upstream.Sidecar.Port);
            var body = "{\"data\": \"buffered, then abandoned\"}";
            await leaver.GetStream().WriteAsync(Encoding.ASCII.GetBytes(
                $"POST /echo HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n{body}"));
            await QueueMetrics.UntilAsync(metrics.Waiting, 1, "abandoning request queued");
        }

        await QueueMetrics.UntilAsync(metrics.Waiting, 0, "abandoned request dropped from the queue");
        Assert.Equal(1, await metrics.Rejections("client_aborted"));
        Assert.Equal(HttpStatusCode.OK, (await upstream.Holder).StatusCode);
        // A later request goes through the freed slot; the app saw it and the first one, never the abandoned one.
        Assert.Equal(HttpStatusCode.OK, (await upstream.Client.GetAsync("/hello")).StatusCode);
        Assert.Equal(2, upstream.Gunicorn.Seen());
    }

    [Fact]
    public async Task SlotIsFreedWhenTheResponseIsSpooledNotWhenASlowClientHasReadIt()
    {
        await using var gunicorn = await Gunicorn.StartAsync(2);
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_UPSTREAM_CONCURRENCY"] = "1",
            // Shorter than the response-rate grace period: were the slot held until the stalled client is
            // disconnected, the second request would time out in the queue.
            ["SIDECAR_QUEUE_TIMEOUT"] = "3s",
        });
        using var metrics = new QueueMetrics(sidecar);

        using var stalled = new TcpClient { ReceiveBufferSize = 4096 };
        await stalled.ConnectAsync(IPAddress.Loopback, sidecar.Port);
        await stalled.GetStream().WriteAsync("GET /big?size=16777216 HTTP/1.1\r\nHost: app\r\n\r\n"u8.ToArray());
        await QueueMetrics.UntilAsync(metrics.WaitCount, 1, "large download admitted");

        using var client = sidecar.Client();
        var next = await client.GetAsync("/hello");

        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(2, gunicorn.Seen());
        Assert.Equal(0, await metrics.Rejections("queue_timeout"));
    }

    [Fact]
    public async Task ForwardedRequestsCarryTheTimeTheSidecarReceivedThem()
    {
        await using var gunicorn = await Gunicorn.StartAsync(1);
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            // Loopback is not trusted here, so the test client counts as an untrusted one.
            ["SIDECAR_TRUSTED_NETWORKS"] = "10.0.0.0/8",
        });
        using var client = sidecar.Client();

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        var request = new HttpRequestMessage(HttpMethod.Get, "/headers");
        request.Headers.TryAddWithoutValidation("X-Request-Start", "t=1");
        var headers = await ReadHeaders(await client.SendAsync(request));
        var after = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 + 1000;

        var stamp = headers.GetProperty("X-Request-Start").GetString()!;
        Assert.StartsWith("t=", stamp);
        var micros = long.Parse(stamp[2..]);
        Assert.InRange(micros, before, after);
    }

    [Fact]
    public async Task RequestStartFromATrustedPeerIsKeptAndTheHeaderCanBeTurnedOff()
    {
        await using var gunicorn = await Gunicorn.StartAsync(1);
        using (var trusting = new SidecarFactory(gunicorn.Address))
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/headers");
            request.Headers.TryAddWithoutValidation("X-Request-Start", "t=1700000000123456");
            var headers = await ReadHeaders(await trusting.Client().SendAsync(request));
            Assert.Equal("t=1700000000123456", headers.GetProperty("X-Request-Start").GetString());
        }

        using var off = new SidecarFactory(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_REQUEST_START_HEADER"] = "off" });
        var plain = await ReadHeaders(await off.Client().GetAsync("/headers"));
        Assert.False(plain.TryGetProperty("X-Request-Start", out _));

        // Off, an untrusted client's claim does not reach the app's queue-time metrics either.
        using var offUntrusting = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_REQUEST_START_HEADER"] = "off",
            ["SIDECAR_TRUSTED_NETWORKS"] = "10.0.0.0/8",
        });
        var claim = new HttpRequestMessage(HttpMethod.Get, "/headers");
        claim.Headers.TryAddWithoutValidation("X-Request-Start", "t=1");
        Assert.False((await ReadHeaders(await offUntrusting.Client().SendAsync(claim))).TryGetProperty("X-Request-Start", out _));
    }

    [Fact]
    public async Task ClusterMetadataLimitAppliesAndAReloadResizesTheQueue()
    {
        await using var gunicorn = await Gunicorn.StartAsync(2);
        using var scratch = new ScratchDirectory("sidecar-queue-");
        var file = Path.Combine(scratch.Path, "sidecar.json");
        await File.WriteAllTextAsync(file, ClusterJson(maxConcurrency: 1));
        // Reloads are triggered by the test (below) rather than by the poller, so they happen exactly when intended.
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = file,
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "0",
        });
        using var metrics = new QueueMetrics(sidecar);
        using var client = sidecar.Client();

        var first = client.GetAsync("/sleep?s=3");
        await QueueMetrics.UntilAsync(metrics.InUse, 1, "slot taken by the first request");
        var second = client.GetAsync("/sleep?s=0.1");
        await QueueMetrics.UntilAsync(metrics.Waiting, 1, "second request held by the cluster's Sidecar.MaxConcurrency=1");

        // A hot reload raises the limit; the next request to arrive applies it to the queue.
        await File.WriteAllTextAsync(file, ClusterJson(maxConcurrency: 2));
        Assert.Equal(ConfigReloader.Outcome.Applied, await sidecar.Services.GetRequiredService<ConfigReloader>().CheckAsync());
        var third = client.GetAsync("/hello");

        Assert.Equal(HttpStatusCode.OK, (await second).StatusCode);
        Assert.False(first.IsCompleted, "the queued request should have been admitted beside the running one once the limit rose");
        Assert.Equal(2, await metrics.Limit());
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await third).StatusCode);
        Assert.Equal(2, gunicorn.PeakConcurrency());

        // A reload that removes the limit shows in the metrics at once, not with the cluster's next request.
        await File.WriteAllTextAsync(file, ClusterJson(maxConcurrency: 0));
        Assert.Equal(ConfigReloader.Outcome.Applied, await sidecar.Services.GetRequiredService<ConfigReloader>().CheckAsync());
        Assert.Equal(0, await metrics.Limit());
    }

    /// <summary>Waiters behind a cluster a reload removes are let through at once, not served one by one behind the old limit.</summary>
    [Fact]
    public async Task AReloadThatRemovesALimitedClusterLetsItsWaitersThrough()
    {
        await using var gunicorn = await Gunicorn.StartAsync(2);
        using var scratch = new ScratchDirectory("sidecar-queue-");
        var file = Path.Combine(scratch.Path, "sidecar.json");
        await File.WriteAllTextAsync(file, $$"""
            { "ReverseProxy": {
                "Routes": { "all": { "ClusterId": "limited", "Match": { "Path": "/{**catch-all}" } } },
                "Clusters": { "limited": { "Destinations": { "d": { "Address": "{{gunicorn.Address}}" } },
                                           "Metadata": { "Sidecar.MaxConcurrency": "1", "Sidecar.QueueTimeout": "60s" } } } } }
            """);
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = file,
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "0",
        });
        using var client = sidecar.Client();
        var first = client.GetAsync("/sleep?s=4");
        await Task.Delay(500);
        var waiting = client.GetAsync("/hello");
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted, "the second request should wait behind the limit of 1");

        await File.WriteAllTextAsync(file, """{ "ReverseProxy": { "Routes": { "all": { "ClusterId": "upstream", "Match": { "Path": "/{**catch-all}" } } } } }""");
        Assert.Equal(ConfigReloader.Outcome.Applied, await sidecar.Services.GetRequiredService<ConfigReloader>().CheckAsync());

        Assert.Equal(HttpStatusCode.OK, (await waiting).StatusCode);
        Assert.False(first.IsCompleted, "the waiting request was let through only when the running one ended");
        Assert.Equal(HttpStatusCode.OK, (await first).StatusCode);
    }

    [Fact]
    public void InvalidClusterLimitsFailTheLoadNamingTheKey()
    {
        var json = """
            { "ReverseProxy": { "Clusters": { "app": {
                "Destinations": { "d": { "Address": "http://127.0.0.1:8000" } },
                "Metadata": { "Sidecar.MaxConcurrency": "-2", "Sidecar.QueueTimeout": "0s", "Sidecar.MaxConcurency": "2" } } } } }
            """;
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(Encoding.UTF8.GetBytes(json), "sidecar.json", _ => null));
        Assert.Contains(error.Problems, p => p.StartsWith("ReverseProxy.Clusters.app.Metadata.Sidecar.MaxConcurrency: '-2' is not a whole number"));
        Assert.Contains(error.Problems, p => p.StartsWith("ReverseProxy.Clusters.app.Metadata.Sidecar.QueueTimeout: must be greater than zero"));
        Assert.Contains(error.Problems, p => p.StartsWith("ReverseProxy.Clusters.app.Metadata.Sidecar.MaxConcurency: unknown setting"));
    }

    [Fact]
    public async Task ReadinessTurnsFalseWhileTheQueueIsFullWhenConfigured()
    {
        await using var upstream = await OneSlotUpstream.StartAsync(1.5, new Dictionary<string, string>
        {
            ["SIDECAR_QUEUE_LENGTH"] = "1",
            ["SIDECAR_QUEUE_TIMEOUT"] = "60s",
            ["SIDECAR_QUEUE_READINESS"] = "on",
        });
        using var admin = upstream.Sidecar.Client(admin: true);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/ready")).StatusCode);

        var queued = upstream.Client.GetAsync("/hello");
        await QueueMetrics.UntilAsync(upstream.Metrics.Waiting, 1, "queue full");
        var ready = await admin.GetAsync("/healthz/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("queue", await ready.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await upstream.Holder).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await queued).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/ready")).StatusCode);
    }

    private static string ClusterJson(int maxConcurrency) => $$"""
        { "ReverseProxy": {
            "Routes": { "all": { "ClusterId": "upstream", "Match": { "Path": "/{**catch-all}" } } },
            "Clusters": { "upstream": {
                "Metadata": { "Sidecar.MaxConcurrency": "{{maxConcurrency}}", "Sidecar.QueueTimeout": "60s" } } } } }
        """;

    private static async Task AssertBusyAsync(HttpResponseMessage refused, string setting)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
        Assert.Contains(setting, await refused.Content.ReadAsStringAsync());
    }

    private static async Task<JsonElement> ReadHeaders(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
    }
}
