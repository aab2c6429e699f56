using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Telemetry;

/// <summary>
/// The sidecar as a real process in front of real gunicorn, scraped by a real Prometheus every second.
/// Every kind of traffic is driven a known number of times, and Prometheus must report exactly those numbers.
/// The sidecar runs in its own process so no other test's requests land in its (process-wide) registry.
/// </summary>
// Its exact counts depend on Kestrel's rate and header timers firing on time, so it runs alone like the other whole-process tests.
[Collection(HeavyCollection.Name)]
public sealed class PrometheusEndToEndTests
{
    private const int Hellos = 7;
    private const int TooLarge = 3;
    private const int Spooled = 2;
    private const int SpooledBodySize = 40 * 1024;
    private const int Refused = 2;
    private const int SlowBodyBytesSent = 10;
    private const int BigResponse = 32 * 1024 * 1024;

    [Fact]
    public async Task PrometheusSeesExactlyTheTrafficThatWasSent()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 3);
        var deadPort = Ports.Free();
        using var scratch = new ScratchDirectory("sidecar-metrics-");
        var configFile = WriteConfig(scratch.Path, deadPort);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = configFile,
            ["SIDECAR_ACCESS_LOG"] = "off",
            ["SIDECAR_MAX_BODY_SIZE"] = "64k",
            ["SIDECAR_REQUEST_BUFFER_MEMORY"] = "16k",
            // Long enough that Kestrel's response rate check, not YARP's activity timeout, cuts the slow reader.
            ["SIDECAR_UPSTREAM_TIMEOUT"] = "8s",
            // Kestrel allows bytes/rate per pending write, so only a high rate makes a 64 KiB write time out quickly.
            ["SIDECAR_MIN_RESPONSE_RATE"] = "1m",
            ["SIDECAR_HEADER_TIMEOUT"] = "1s",
            ["SIDECAR_RATE_GRACE_PERIOD"] = "2s",
            ["SIDECAR_SHUTDOWN_DELAY"] = "5s",
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "1s",
        });
        await Ports.WaitUntilListeningAsync(sidecar.Port, TimeSpan.FromSeconds(30), () => sidecar.Output);
        var rules = Path.Combine(TestPaths.RepositoryRoot, "deploy", "monitoring", "sidecar-rules.yml");
        await using var prometheus = await PrometheusServer.StartAsync(sidecar.AdminAddress, ruleFiles: rules);

        Assert.Equal(1, await prometheus.WaitForValueAsync("up{job=\"sidecar\"}", 1));
        // Before any traffic the families already exist at zero, so rate() and alerts work from the first scrape.
        Assert.Equal(0, await prometheus.ValueAsync("sidecar_rejections_total{reason=\"body_too_large\"}"));

        using var client = new HttpClient { BaseAddress = sidecar.Address, Timeout = TimeSpan.FromSeconds(30) };
        using var slowReader = await StartSlowReaderAsync(sidecar.Port);
        await Task.WhenAll(
            SendAsync(client, Hellos, () => new HttpRequestMessage(HttpMethod.Get, "/hello"), HttpStatusCode.OK),
            SendAsync(client, TooLarge, () => Post(new byte[100 * 1024], expectContinue: true), HttpStatusCode.RequestEntityTooLarge),
            SendAsync(client, Spooled, () => Post(new byte[SpooledBodySize]), HttpStatusCode.OK),
            SendAsync(client, Refused, () => new HttpRequestMessage(HttpMethod.Get, "/dead/x"), HttpStatusCode.BadGateway),
            SendAsync(client, 1, () => new HttpRequestMessage(HttpMethod.Get, "/sleep?s=10"), HttpStatusCode.GatewayTimeout),
            SmuggleAsync(sidecar.Port),
            HeaderTimeoutAsync(sidecar.Port),
            SlowBodyAsync(sidecar.Port));

        // /metrics on the application port is the app's path, never the sidecar's exposition.
        var seenBefore = gunicorn.Seen();
        using (var appMetrics = await client.GetAsync("/metrics"))
        {
            Assert.Equal(HttpStatusCode.NotFound, appMetrics.StatusCode);
            Assert.DoesNotContain("sidecar_", await appMetrics.Content.ReadAsStringAsync());
        }

        Assert.Equal(seenBefore + 1, gunicorn.Seen());

        // The slow reader is cut off by Kestrel's minimum response rate; wait for that before closing it.
        Assert.Equal(1, await prometheus.WaitForValueAsync("sidecar_rejections_total{reason=\"slow_read\"}", 1, TimeSpan.FromSeconds(30)));
        var delivered = await ReadUntilClosedAsync(slowReader, TimeSpan.FromSeconds(15));
        Assert.True(delivered.Length < BigResponse, "the slow reader was cut off before the whole response");

        async Task Expect(double expected, string expression) =>
            Assert.True(expected == await prometheus.WaitForValueAsync(expression, expected),
                $"{expression}: expected {expected}, Prometheus has {await prometheus.ValueAsync(expression)}");

        // 7 hellos + the cut-off slow read; 2 spooled uploads; the 404 from /metrics.
        await Expect(Hellos + 1, "sidecar_requests_total{route=\"app\",method=\"GET\",status_class=\"2xx\"}");
        await Expect(Spooled, "sidecar_requests_total{route=\"app\",method=\"POST\",status_class=\"2xx\"}");
        // 3 too large + the slow body's 408.
        await Expect(TooLarge + 1, "sidecar_requests_total{route=\"app\",method=\"POST\",status_class=\"4xx\"}");
        await Expect(1, "sidecar_requests_total{route=\"app\",method=\"GET\",status_class=\"4xx\"}");
        await Expect(1, "sidecar_requests_total{route=\"app\",method=\"GET\",status_class=\"5xx\"}");
        await Expect(Refused, "sidecar_requests_total{route=\"dead\",method=\"GET\",status_class=\"5xx\"}");
        // The smuggling shape is refused before a route is chosen.
        await Expect(1, "sidecar_requests_total{route=\"none\",method=\"POST\",status_class=\"4xx\"}");
        // The header timeout is answered (408) by the HTTP server itself, before any method is trusted.
        await Expect(1, "sidecar_requests_total{route=\"none\",method=\"_OTHER\",status_class=\"4xx\"}");
        await Expect(Hellos + 1 + Spooled + TooLarge + 1 + 1 + 1 + Refused + 1 + 1, "sum(sidecar_requests_total)");

        await Expect(TooLarge, "sidecar_rejections_total{reason=\"body_too_large\"}");
        await Expect(Refused, "sidecar_rejections_total{reason=\"upstream_refused\"}");
        await Expect(1, "sidecar_rejections_total{reason=\"upstream_timeout\"}");
        await Expect(1, "sidecar_rejections_total{reason=\"smuggling_shape\"}");
        await Expect(1, "sidecar_rejections_total{reason=\"header_timeout\"}");
        await Expect(1, "sidecar_rejections_total{reason=\"slow_body\"}");
        await Expect(1, "sidecar_rejections_total{reason=\"slow_read\"}");
        await Expect(0, "sidecar_rejections_total{reason=\"spool_full\"}");

        await Expect(Spooled * SpooledBodySize + SlowBodyBytesSent, "sidecar_received_bytes_total{route=\"app\"}");
        await Expect(Spooled, "sidecar_spooled_to_disk_total{direction=\"request\"}");
        await Expect(1, "sidecar_spooled_to_disk_total{direction=\"response\"}");
        await Expect(Spooled + 1, "sidecar_spool_files_created_total");
        await Expect(0, "sidecar_spool_bytes");
        await Expect(0, "sidecar_static_memory_bytes");
        await Expect(1, "sidecar_client_aborts_total{route=\"app\"}");

        // Upstream answered with headers: hellos, slow read, spooled uploads, the /metrics 404.
        await Expect(Hellos + 1 + Spooled + 1, "sidecar_upstream_time_to_first_byte_seconds_count{route=\"app\"}");
        // The upstream was also busy with the request that timed out.
        await Expect(Hellos + 1 + Spooled + 1 + 1, "sidecar_upstream_duration_seconds_count{route=\"app\"}");
        await Expect(Spooled + 1, "sidecar_request_buffering_duration_seconds_count{route=\"app\"}");
        await Expect(Hellos + 1 + Spooled + TooLarge + 1 + 1 + 1, "sidecar_request_duration_seconds_count{route=\"app\"}");
        await Expect(0, "sidecar_requests_in_flight");
        await Expect(0, "sidecar_upstream_requests_in_flight");
        await Expect(0, "sidecar_draining");
        await Expect(0, "sidecar_config_reloads_total{result=\"rejected\"}");
        await Expect(1, "count(sidecar_config_info == 1)");

        var build = Assert.Single(await prometheus.QueryAsync("sidecar_build_info"));
        Assert.Equal(1, build.Value);
        Assert.Matches("^([0-9a-f]{40}|unknown)$", build.Labels["commit"]);
        Assert.Equal(Environment.Version.ToString(), build.Labels["dotnet_version"]);
        Assert.False(string.IsNullOrEmpty(build.Labels["version"]));

        // Runtime and Kestrel meters arrive once, through the Meter adapter only.
        Assert.NotEmpty(await prometheus.QueryAsync("microsoft_aspnetcore_server_kestrel_kestrel_active_connections"));
        Assert.NotEmpty(await prometheus.QueryAsync("system_runtime_dotnet_gc_heap_total_allocated"));
        Assert.Empty(await prometheus.QueryAsync("prometheus_net_eventcounteradapter_sources_connected"));
        Assert.Empty(await prometheus.QueryAsync("{__name__=~\"system_net_http_.*\"}"));

        await CheckExpositionWithPromtoolAsync(sidecar.AdminAddress);

        await CheckReloadsAsync(prometheus, configFile, deadPort);

        // SIGTERM: while ShutdownDelay keeps the ports open, Prometheus sees the sidecar draining.
        sidecar.Process.Signal(15);
        Assert.Equal(1, await prometheus.WaitForValueAsync("sidecar_draining", 1, TimeSpan.FromSeconds(15)));
    }

    /// <summary>
    /// A POST to the app. Oversized bodies go with Expect: 100-continue, as curl sends them: the 413 then arrives
    /// before the body is sent, instead of racing the client's upload against the closing connection.
    /// </summary>
    private static HttpRequestMessage Post(byte[] body, bool expectContinue = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(body) };
        request.Headers.ExpectContinue = expectContinue;
        return request;
    }

    private static async Task SendAsync(HttpClient client, int count, Func<HttpRequestMessage> request, HttpStatusCode expected)
    {
        for (var i = 0; i < count; i++)
        {
            using var message = request();
            using var response = await client.SendAsync(message);
            await response.Content.ReadAsByteArrayAsync();
            Assert.Equal(expected, response.StatusCode);
        }
    }

    /// <summary>
    /// A valid change is applied (new hash, applied counter), a broken file is rejected (the hash stays, the
    /// rejected counter moves) and the shipped SidecarConfigReloadFailed alert fires in the same Prometheus.
    /// </summary>
    private static async Task CheckReloadsAsync(PrometheusServer prometheus, string configFile, int deadPort)
    {
        var startHash = Assert.Single(await prometheus.QueryAsync("sidecar_config_info")).Labels["hash"];
        var startTime = await prometheus.ValueAsync("sidecar_config_last_reload_success_timestamp_seconds");

        Replace(configFile, ConfigJson(deadPort, extraRoute: true));
        Assert.Equal(1, await prometheus.WaitForValueAsync("sidecar_config_reloads_total{result=\"applied\"}", 1));
        Assert.Equal(1, await prometheus.WaitForValueAsync($"count(sidecar_config_info{{hash!=\"{startHash}\"}})", 1));
        var appliedHash = Assert.Single(await prometheus.QueryAsync("sidecar_config_info")).Labels["hash"];
        Assert.True(await prometheus.ValueAsync("sidecar_config_last_reload_success_timestamp_seconds") > startTime);

        Replace(configFile, "{ \"ReverseProxy\": ");
        Assert.Equal(1, await prometheus.WaitForValueAsync("sidecar_config_reloads_total{result=\"rejected\"}", 1));
        Assert.Equal(1, await prometheus.WaitForValueAsync("count(ALERTS{alertname=\"SidecarConfigReloadFailed\",alertstate=\"firing\"})", 1));
        Assert.Equal(appliedHash, Assert.Single(await prometheus.QueryAsync("sidecar_config_info")).Labels["hash"]);
        Assert.Equal(1, await prometheus.ValueAsync("sidecar_config_reloads_total{result=\"applied\"}"));
    }

    /// <summary>Swaps the file in one rename, as the kubelet does, so the poller never reads half a file.</summary>
    private static void Replace(string path, string content)
    {
        var next = path + ".next";
        File.WriteAllText(next, content);
        File.Move(next, path, overwrite: true);
    }

    private static string WriteConfig(string directory, int deadPort)
    {
        var path = Path.Combine(directory, "sidecar.json");
        File.WriteAllText(path, ConfigJson(deadPort, extraRoute: false));
        return path;
    }

    private static string ConfigJson(int deadPort, bool extraRoute)
    {
        var extra = extraRoute ? """, "extra": { "ClusterId": "upstream", "Match": { "Path": "/extra/{**rest}" } }""" : "";
        return $$"""
            {
              "ReverseProxy": {
                "Routes": {
                  "app": { "ClusterId": "upstream", "Match": { "Path": "/{**rest}" } },
                  "dead": { "ClusterId": "dead", "Match": { "Path": "/dead/{**rest}" } }{{extra}}
                },
                "Clusters": {
                  "dead": { "Destinations": { "nobody": { "Address": "http://127.0.0.1:{{deadPort}}" } } }
                }
              }
            }
            """;
    }

    private static async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        return socket;
    }

    /// <summary>Reads until the server closes the connection (or resets it); returns what arrived.</summary>
    private static async Task<string> ReadUntilClosedAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new StringBuilder();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0)
            {
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (SocketException)
        {
            // A reset is a close too.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the sidecar kept the connection open for {timeout.TotalSeconds} s; received: {received}");
        }

        return received.ToString();
    }

    /// <summary>A transfer coding stack gunicorn would misread: refused before anything is routed.</summary>
    private static async Task SmuggleAsync(int port)
    {
        using var socket = await ConnectAsync(port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"));
        // The framing cannot be trusted, so the sidecar closes the connection after answering.
        var answer = await ReadUntilClosedAsync(socket, TimeSpan.FromSeconds(15));
        Assert.StartsWith("HTTP/1.1 400", answer);
        Assert.Contains("Connection: close", answer);
    }

    /// <summary>Half a request head, then silence: Kestrel's header timeout closes the connection.</summary>
    private static async Task HeaderTimeoutAsync(int port)
    {
        using var socket = await ConnectAsync(port);
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /hello HTTP/1.1\r\nHost: x\r\n"));
        await ReadUntilClosedAsync(socket, TimeSpan.FromSeconds(15));
    }

    /// <summary>A few body bytes, then silence: below the minimum request body rate once the grace period is over.</summary>
    private static async Task SlowBodyAsync(int port)
    {
        using var socket = await ConnectAsync(port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{new string('a', SlowBodyBytesSent)}"));
        await ReadUntilClosedAsync(socket, TimeSpan.FromSeconds(15));
    }

    /// <summary>Asks for a large response and does not read it: the caller waits until Kestrel gives up on the connection.</summary>
    private static async Task<Socket> StartSlowReaderAsync(int port)
    {
        var socket = await ConnectAsync(port);
        socket.ReceiveBufferSize = 4096;
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /big?size={BigResponse} HTTP/1.1\r\nHost: x\r\n\r\n"));
        return socket;
    }

    /// <summary>promtool's lint of the exposition: naming conventions, help text, suffixes, duplicate families.</summary>
    internal static async Task CheckExpositionWithPromtoolAsync(Uri admin)
    {
        using var http = new HttpClient { BaseAddress = admin };
        var exposition = await http.GetStringAsync("/metrics");
        var (exitCode, output) = await Promtool.RunAsync(["check", "metrics"], exposition);
        Assert.True(exitCode == 0 && output.Trim().Length == 0, $"promtool check metrics (exit {exitCode}):\n{output}");
    }
}
