using System.Net;
using Sidecar.Telemetry;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Telemetry;

/// <summary>
/// Whatever a client sends (paths, query strings, Host headers, invented methods), the series it creates are
/// bounded: nothing from the request line or headers becomes a label value.
/// </summary>
public sealed class MetricLabelsTests(MetricLabelsTests.AppAndSidecar app) : IClassFixture<MetricLabelsTests.AppAndSidecar>
{
    /// <summary>One gunicorn and one sidecar for the class; the tests only add requests and read.</summary>
    public sealed class AppAndSidecar : IAsyncLifetime
    {
        public Gunicorn Gunicorn { get; private set; } = null!;

        public SidecarFactory Sidecar { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Gunicorn = await Gunicorn.StartAsync(workers: 1);
            Sidecar = new SidecarFactory(Gunicorn.Address);
        }

        public async Task DisposeAsync()
        {
            Sidecar.Dispose();
            await Gunicorn.DisposeAsync();
        }
    }

    [Fact]
    public async Task ClientInputNeverBecomesALabel()
    {
        using var client = app.Sidecar.Client();
        using var admin = app.Sidecar.Client(admin: true);

        var marker = Guid.NewGuid().ToString("N");
        for (var i = 0; i < 5; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/{marker}{i}?q={marker}");
            request.Headers.Host = $"h{marker}{i}.example";
            using var response = await client.SendAsync(request);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        using (var invented = await client.SendAsync(new HttpRequestMessage(new HttpMethod("X" + marker[..8].ToUpperInvariant()), "/hello")))
        {
            await invented.Content.ReadAsByteArrayAsync();
        }

        using var scrape = await admin.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Equal("text/plain", scrape.Content.Headers.ContentType?.MediaType);
        var exposition = await scrape.Content.ReadAsStringAsync();

        Assert.DoesNotContain(marker, exposition);
        Assert.DoesNotContain(marker[..8].ToUpperInvariant(), exposition);
        Assert.Contains("sidecar_requests_total{route=\"default\",method=\"_OTHER\",status_class=", exposition);
        Assert.Contains("sidecar_requests_total{route=\"default\",method=\"GET\",status_class=\"4xx\"}", exposition);
        // HttpClient's meter would label series with the forwarded Host header.
        Assert.DoesNotContain("system_net_http_", exposition);
    }

    [Fact]
    public async Task MetricsAreServedOnTheAdminPortOnly()
    {
        var gunicorn = app.Gunicorn;
        using var client = app.Sidecar.Client();
        using var admin = app.Sidecar.Client(admin: true);

        Assert.Contains("# TYPE sidecar_build_info gauge", await admin.GetStringAsync("/metrics"));
        var seen = gunicorn.Seen();
        using var main = await client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.NotFound, main.StatusCode);
        Assert.Contains("\"path\": \"/metrics\"", await main.Content.ReadAsStringAsync());
        Assert.Equal(seen + 1, gunicorn.Seen());
    }

    [Theory]
    [InlineData("request_headers_timeout", "header_timeout")]
    [InlineData("min_request_body_data_rate", "slow_body")]
    [InlineData("min_response_data_rate", "slow_read")]
    [InlineData("max_request_headers_total_size_exceeded", "headers_too_large")]
    [InlineData("invalid_request_line", "bad_request")]
    [InlineData("keep_alive_timeout", null)]
    [InlineData("connection_reset", null)]
    [InlineData("app_shutdown_timeout", null)]
    public void KestrelEndReasonsMapToRejections(string errorType, string? reason) =>
        Assert.Equal(reason, ConnectionRejections.ReasonFor(errorType));

    [Theory]
    [InlineData("0.1.0+e0a3bcf1c510b0d74ebe0164665a168a07f139b5", "0.1.0", "e0a3bcf1c510b0d74ebe0164665a168a07f139b5")]
    [InlineData("0.1.0", "0.1.0", "unknown")]
    [InlineData("", "unknown", "unknown")]
    public void BuildInfoSplitsVersionAndCommit(string informational, string version, string commit) =>
        Assert.Equal((version, commit), BuildInfo.Split(informational));
}
