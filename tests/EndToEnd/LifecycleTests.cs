using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.EndToEnd;

/// <summary>The built binary as Kubernetes runs it: probes, SIGTERM draining, start-up errors, memory under big uploads.</summary>
[Collection(HeavyCollection.Name)]
public sealed class LifecycleTests
{
    [Fact]
    public async Task ProbesSeparateTheSidecarFromTheApp()
    {
        var appPort = Ports.Free();
        await using var sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{appPort}"));
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };

        // No app yet: started and live must still pass (a native sidecar's startup probe gates the app's start).
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/started")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/live")).StatusCode);
        var notReady = await admin.GetAsync("/healthz/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains($"127.0.0.1:{appPort}", await notReady.Content.ReadAsStringAsync());

        await using var gunicorn = await Gunicorn.StartAsync(workers: 1, port: appPort);
        await Task.Delay(1100); // the upstream check is cached for a second
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/ready")).StatusCode);

        // The main port serves only the app: its /healthz/ready is the app's (a 404 from the test app).
        using var main = new HttpClient { BaseAddress = sidecar.Address };
        Assert.Equal(HttpStatusCode.NotFound, (await main.GetAsync("/healthz/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/hello")).StatusCode);
    }

    [Theory]
    [InlineData("GET", "/healthz/live", 200)]
    [InlineData("HEAD", "/metrics", 200)]
    [InlineData("DELETE", "/metrics", 405)]
    [InlineData("POST", "/healthz/ready", 405)]
    [InlineData("GET", "/healthz/ready/anything", 404)]
    [InlineData("GET", "/metrics/", 404)]
    [InlineData("GET", "/HEALTHZ/LIVE", 404)]
    public async Task TheAdminPortAnswersItsFourPathsExactlyAndOnlyToReads(string method, string path, int status)
    {
        await using var sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{Ports.Free()}"));
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };

        using var response = await admin.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(status, (int)response.StatusCode);
        if (status == 405)
        {
            Assert.Equal("GET, HEAD", string.Join(", ", response.Content.Headers.Allow));
        }

        // Methods are case-sensitive here as on the main port (HttpClient would send "get" as GET).
        var lowerCase = await RawHttp.ExchangeAsync(sidecar.AdminPort, $"get {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        Assert.Equal(status == 404 ? 404 : 405, RawHttp.Status(lowerCase));
    }

    [Fact]
    public async Task SigtermDrainsInFlightRequestsAndExitsZero()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_SHUTDOWN_DELAY"] = "2s",
            ["SIDECAR_DRAIN_TIMEOUT"] = "20s",
        });
        using var client = new HttpClient { BaseAddress = sidecar.Address, Timeout = TimeSpan.FromSeconds(30) };
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz/ready")).StatusCode);

        var slowApp = client.GetAsync("/sleep?s=3");
        var slowReader = ReadSlowlyAsync(sidecar.Port, 3 << 20, TimeSpan.FromSeconds(4));
        await Task.Delay(500);

        sidecar.Process.Signal(15);
        await Task.Delay(300);

        var ready = await admin.GetAsync("/healthz/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("draining", await ready.Content.ReadAsStringAsync());
        // Still answered during ShutdownDelay, but kept-alive clients are told to go: reused after the delay, the
        // connection would be closed under their next request.
        using var during = await client.GetAsync("/hello");
        Assert.Equal(HttpStatusCode.OK, during.StatusCode);
        Assert.True(during.Headers.ConnectionClose, "a response during the delay did not say Connection: close");

        Assert.Equal(HttpStatusCode.OK, (await slowApp).StatusCode);
        Assert.Equal(3 << 20, await slowReader);
        Assert.True(await sidecar.Process.WaitForExitAsync(TimeSpan.FromSeconds(20)), "the sidecar did not exit after draining");
        Assert.Equal(0, sidecar.Process.ExitCode);
    }

    /// <summary>A request still queued when DrainTimeout is about to end cannot be answered by the app: it gets a 503 it can retry.</summary>
    [Fact]
    public async Task RequestsStillQueuedAtTheEndOfTheDrainGetA503NotAReset()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_UPSTREAM_CONCURRENCY"] = "1",
            ["SIDECAR_DRAIN_TIMEOUT"] = "3s",
        });
        using var client = new HttpClient { BaseAddress = sidecar.Address, Timeout = TimeSpan.FromSeconds(30) };
        var running = client.GetAsync("/sleep?s=10");
        await Task.Delay(500);
        var seenBefore = gunicorn.Seen();
        var queued = client.PostAsync("/echo", new ByteArrayContent(new byte[1000]));
        await Task.Delay(500);

        sidecar.Process.Signal(15);

        using var refused = await queued;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("safe to send again", await refused.Content.ReadAsStringAsync());
        Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
        Assert.Equal(seenBefore, gunicorn.Seen());
        await Assert.ThrowsAnyAsync<Exception>(() => running);
    }

    [Fact]
    public async Task QueueMetricsExistBeforeTheFirstRequest()
    {
        // An autoscaler on the queue metrics had no data for a new or idle Pod (FailedGetPodsMetric).
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_UPSTREAM_CONCURRENCY"] = "3" });
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };

        var metrics = await admin.GetStringAsync("/metrics");

        Assert.Contains("sidecar_upstream_concurrency_limit_requests{cluster=\"upstream\"} 3\n", metrics);
        Assert.Contains("sidecar_upstream_concurrency_requests{cluster=\"upstream\"} 0\n", metrics);
        Assert.Contains("sidecar_queue_requests{cluster=\"upstream\"} 0\n", metrics);
    }

    [Fact]
    public async Task RequestsCutOffByTheDrainTimeoutAreNamedInTheLog()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_DRAIN_TIMEOUT"] = "2s" });
        using var client = new HttpClient { BaseAddress = sidecar.Address, Timeout = TimeSpan.FromSeconds(30) };
        var tooSlow = client.GetAsync("/sleep?s=6");
        await Task.Delay(500);

        sidecar.Process.Signal(15);

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => tooSlow);
        Assert.True(await sidecar.Process.WaitForExitAsync(TimeSpan.FromSeconds(20)), "the sidecar did not exit after the drain timeout");
        Assert.Contains("DrainTimeout (00:00:02) is ending with 1 requests still in flight; they are cut off", sidecar.Output);
    }

    /// <summary>A client that takes <paramref name="duration"/> to read a response body; returns the body length read.</summary>
    private static async Task<int> ReadSlowlyAsync(int port, int size, TimeSpan duration)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 8192 };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /big?size={size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        var buffer = new byte[64 * 1024];
        var received = new MemoryStream();
        var chunks = 40;
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            received.Write(buffer, 0, read);
            if (chunks-- > 0)
            {
                await Task.Delay(duration / 40);
            }
        }

        var text = received.ToArray();
        var headerEnd = text.AsSpan().IndexOf("\r\n\r\n"u8);
        return headerEnd < 0 ? 0 : text.Length - headerEnd - 4;
    }

    [Fact]
    public async Task StartingAndServingNeitherWriteToHomeNorWatchTheWorkingDirectory()
    {
        // A read-only root filesystem has no writable home; the sidecar must neither need one nor warn about it.
        var home = Directory.CreateTempSubdirectory("sidecar-home-");
        try
        {
            await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
            await using (var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["HOME"] = home.FullName }))
            {
                using var client = new HttpClient { BaseAddress = sidecar.Address };
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hello")).StatusCode);
                Assert.DoesNotContain("DataProtection", sidecar.Output);

                // Nor does it watch its working directory (the host's default appsettings.json reload would).
                var inotify = OpenFiles.Of(sidecar.Process.Id.ToString()).Count(target => target == "anon_inode:inotify");
                Assert.Equal(0, inotify);
            }

            Assert.Empty(home.EnumerateFileSystemInfos());
        }
        finally
        {
            home.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The GC decommits only while it collects, and it collects only while something allocates: without a collection
    /// of its own once traffic stops, the sidecar would hold a burst's memory through every quiet hour after it.
    /// </summary>
    [Fact]
    public async Task MemoryABurstLeftBehindIsReturnedOnceTrafficStops()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address);
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        await Parallel.ForAsync(0, 3000, new ParallelOptions { MaxDegreeOfParallelism = 16 }, async (_, cancellationToken) =>
            (await client.GetAsync("/hello", cancellationToken)).EnsureSuccessStatusCode());
        var fullCollectionsAfterBurst = await FullCollectionsAsync(admin);
        var residentAfterBurst = ProcessStatus.ResidentKib(sidecar.Process.Id);

        // Nothing but a scrape a second from here on.
        var deadline = DateTime.UtcNow + Sidecar.Hosting.MemoryTrim.QuietPeriod * 4;
        while (await FullCollectionsAsync(admin) == fullCollectionsAfterBurst && DateTime.UtcNow < deadline)
        {
            await Task.Delay(1000);
        }

        Assert.True(await FullCollectionsAsync(admin) > fullCollectionsAfterBurst, "no full collection in the quiet after the burst");
        var residentAfterQuiet = ProcessStatus.ResidentKib(sidecar.Process.Id);
        Assert.True(residentAfterQuiet < residentAfterBurst, $"resident {residentAfterBurst} KiB after the burst, {residentAfterQuiet} KiB after the quiet");
    }

    /// <summary>
    /// OpenSSL is 3.7 MB resident in a process that loads it, and the sidecar needs none of it: no TLS, and no digest
    /// it takes has to be cryptographic. Start-up, a verified Django-hashed file with its Brotli sibling, a proxied
    /// request and a config reload must all leave it unloaded.
    /// </summary>
    [Fact]
    public async Task ServingNeverLoadsOpenSsl()
    {
        using var collected = new StaticFiles.CompressedStatic();
        var configPath = Path.Combine(collected.Directory, "sidecar.json");
        File.WriteAllText(configPath, "{}");
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_ROOT"] = collected.StaticRoot,
            ["SIDECAR_STATIC_URL"] = "/static/",
            ["SIDECAR_CONFIG"] = configPath,
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "200ms",
        });
        using var client = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None }) { BaseAddress = sidecar.Address };

        using var hashed = new HttpRequestMessage(HttpMethod.Get, "/static/" + collected.Hashed("css/app.css"));
        hashed.Headers.Add("Accept-Encoding", "br");
        using var response = await client.SendAsync(hashed);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("immutable", response.Headers.CacheControl!.ToString());
        Assert.Equal("br", Assert.Single(response.Content.Headers.ContentEncoding));
        (await client.GetAsync("/hello")).EnsureSuccessStatusCode();
        File.WriteAllText(configPath, """{ "Sidecar": { "MaxBodySize": "5m" } }""");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!sidecar.Output.Contains("applied from", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.Contains("applied from", sidecar.Output);

        var libraries = File.ReadAllLines($"/proc/{sidecar.Process.Id}/maps").Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "");
        Assert.DoesNotContain(libraries, path => Path.GetFileName(path).StartsWith("libssl", StringComparison.Ordinal) || Path.GetFileName(path).StartsWith("libcrypto", StringComparison.Ordinal));
    }

    /// <summary>
    /// Kestrel's socket reader runs ahead of the request's reader by up to its read buffer, in pool blocks the pool
    /// then keeps. At the transport's default of 1 MiB, 30 fast 20 MiB uploads took the sidecar from 38 to 68 MB.
    /// </summary>
    [Fact]
    public async Task ConcurrentFastUploadsDoNotEachPinAMegabyte()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            // The image's GC settings, so that the young generation does not hide what the pool takes.
            ["DOTNET_GCgen0size"] = "100000",
            ["DOTNET_GCRegionSize"] = "100000",
            ["DOTNET_GCGen1MaxBudget"] = "100000",
        });
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        var body = new byte[8 << 20];
        Random.Shared.NextBytes(body);
        (await client.PostAsync("/echo", new ByteArrayContent(body))).EnsureSuccessStatusCode();
        var before = ProcessStatus.ResidentKib(sidecar.Process.Id);

        await Task.WhenAll(Enumerable.Range(0, 24).Select(async _ =>
            (await client.PostAsync("/echo", new ByteArrayContent(body))).EnsureSuccessStatusCode()));

        // 38 MB with the 1 MiB default, 14 MB with 128 KiB: under a megabyte an upload.
        var growth = ProcessStatus.PeakResidentKib(sidecar.Process.Id) - before;
        Assert.True(growth < 24 * 1024, $"24 concurrent 8 MiB uploads grew the sidecar by {growth / 1024} MB");
    }

    private static async Task<double> FullCollectionsAsync(HttpClient admin)
    {
        const string series = "dotnet_collection_count_total{generation=\"2\"} ";
        var line = (await admin.GetStringAsync("/metrics")).Split('\n').Single(l => l.StartsWith(series, StringComparison.Ordinal));
        return double.Parse(line[series.Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>32 MB is the GC heap limit of a 42Mi container, at which the sidecar crashed under load.</summary>
    [Fact]
    public async Task AMemoryLimitTooSmallForLoadIsNamedAtStart()
    {
        var upstream = new Uri($"http://127.0.0.1:{Ports.Free()}");
        await using var tight = await SidecarProcess.StartAsync(upstream, new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "2000000" });
        await using var roomy = await SidecarProcess.StartAsync(upstream, new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = "6000000" });

        await Sidecar.Tests.Proxy.RequestBufferingTests.WaitUntil(() => tight.Output.Contains("Application started") && roomy.Output.Contains("Application started"), TimeSpan.FromSeconds(10));
        Assert.Contains("The GC heap limit is 32 MiB", tight.Output);
        Assert.Contains("Set the sidecar container's resources.limits.memory to at least 64Mi", tight.Output);
        Assert.DoesNotContain("GC heap limit", roomy.Output);
    }

    [Fact]
    public async Task ASpoolDirectoryThatCannotHoldFilesIsNamedAtStart()
    {
        var upstream = new Uri($"http://127.0.0.1:{Ports.Free()}");
        await using var missing = await SidecarProcess.StartAsync(upstream, new Dictionary<string, string> { ["SIDECAR_TEMP_DIR"] = "/nonexistent/sidecar-spool" });
        await using var fine = await SidecarProcess.StartAsync(upstream, new Dictionary<string, string> { ["SIDECAR_TEMP_DIR"] = Path.GetTempPath() });

        await Sidecar.Tests.Proxy.RequestBufferingTests.WaitUntil(() => missing.Output.Contains("Application started") && fine.Output.Contains("Application started"), TimeSpan.FromSeconds(10));
        Assert.Contains("The spool directory /nonexistent/sidecar-spool cannot hold bodies", missing.Output);
        Assert.Contains("Set SIDECAR_TEMP_DIR", missing.Output);
        Assert.DoesNotContain("spool directory", fine.Output);
    }

    [Fact]
    public async Task MissingNamedConfigFileStopsStartupWithAClearMessage()
    {
        await using var sidecar = new ExternalProcess("dotnet", [TestPaths.SidecarDll],
            environment: new Dictionary<string, string> { ["SIDECAR_CONFIG"] = "/nonexistent/sidecar.json", ["SIDECAR_PORT"] = Ports.Free().ToString(), ["SIDECAR_ADMIN_PORT"] = Ports.Free().ToString() });
        Assert.True(await sidecar.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(2, sidecar.ExitCode);
        Assert.Contains("config file not found (SIDECAR_CONFIG=/nonexistent/sidecar.json)", sidecar.Output);
    }

    [Fact]
    public async Task APortAlreadyInUseStopsStartupWithAClearMessage()
    {
        var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, 0);
        taken.Start();
        try
        {
            var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
            await using var sidecar = new ExternalProcess("dotnet", [TestPaths.SidecarDll],
                environment: new Dictionary<string, string> { ["SIDECAR_PORT"] = port.ToString(), ["SIDECAR_ADMIN_PORT"] = Ports.Free().ToString(), ["SIDECAR_CONFIG"] = "" });
            Assert.True(await sidecar.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(2, sidecar.ExitCode);
            Assert.Contains($"sidecar: Failed to bind to address http://[::]:{port}: address already in use.", sidecar.Output);
            Assert.Contains("change SIDECAR_PORT or SIDECAR_ADMIN_PORT", sidecar.Output);
            Assert.DoesNotContain("Unhandled exception", sidecar.Output);
            // The background services stop quietly: a cancelled one must not be reported as a crash.
            Assert.DoesNotContain("BackgroundService", sidecar.Output);
            Assert.DoesNotContain("crit:", sidecar.Output);
        }
        finally
        {
            taken.Stop();
        }
    }

    [Fact]
    public async Task BadSettingStopsStartupNamingTheVariable()
    {
        await using var sidecar = new ExternalProcess("dotnet", [TestPaths.SidecarDll],
            environment: new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "ten megs", ["SIDECAR_CONFIG"] = "" });
        Assert.True(await sidecar.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(2, sidecar.ExitCode);
        Assert.Contains("SIDECAR_MAX_BODY_SIZE: 'ten megs' is not a size", sidecar.Output);
    }

    [Fact]
    public async Task AnUnknownArgumentIsRefusedInsteadOfStartingTheProxy()
    {
        await using var help = new ExternalProcess("dotnet", [TestPaths.SidecarDll, "--help"], environment: new Dictionary<string, string> { ["SIDECAR_CONFIG"] = "" });
        Assert.True(await help.WaitForExitAsync(TimeSpan.FromSeconds(20)), "the sidecar started instead of refusing --help:\n" + help.Output);
        Assert.Equal(2, help.ExitCode);
        Assert.Contains("unknown argument '--help'", help.Output);
        Assert.DoesNotContain("listening", help.Output, StringComparison.OrdinalIgnoreCase);

        // The '=' spelling of the one option checks the file, as the spaced one does.
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, """{ "Sidecar": { "MaxBodySize": "1m" } }""");
        try
        {
            await using var check = new ExternalProcess("dotnet", [TestPaths.SidecarDll, $"--check-config={file}"]);
            Assert.True(await check.WaitForExitAsync(TimeSpan.FromSeconds(20)), check.Output);
            Assert.Equal(0, check.ExitCode);
            Assert.Contains($"configuration OK: {file}", check.Output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task CheckConfigReportsEveryProblemAndExitsNonZero()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, """{ "Sidecar": { "MaxBodySise": "1m", "UpstreamTimeout": "soon" } }""");
        try
        {
            await using var bad = new ExternalProcess("dotnet", [TestPaths.SidecarDll, "--check-config", file]);
            Assert.True(await bad.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(1, bad.ExitCode);
            Assert.Contains("Sidecar.MaxBodySise: unknown setting; did you mean 'MaxBodySize'?", bad.Output);
            Assert.Contains("Sidecar.UpstreamTimeout: 'soon' is not a duration", bad.Output);

            await File.WriteAllTextAsync(file, """{ "Sidecar": { "MaxBodySize": "1m" } }""");
            await using var good = new ExternalProcess("dotnet", [TestPaths.SidecarDll, "--check-config", file]);
            Assert.True(await good.WaitForExitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(0, good.ExitCode);
            Assert.Contains("configuration OK", good.Output);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task MemoryDoesNotGrowWithUploadSize()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "0" });
        using var client = new HttpClient { BaseAddress = sidecar.Address, Timeout = TimeSpan.FromMinutes(2) };

        await UploadAsync(client, 8 << 20);
        var afterSmall = ProcessStatus.PeakResidentKib(sidecar.Process.Id) * 1024;
        await UploadAsync(client, 160 << 20);
        var afterLarge = ProcessStatus.PeakResidentKib(sidecar.Process.Id) * 1024;

        Assert.True(afterLarge - afterSmall < 48L << 20,
            $"peak RSS grew from {afterSmall >> 20} MiB to {afterLarge >> 20} MiB for a 20x larger upload: bodies are being held in memory");
    }

    private static async Task UploadAsync(HttpClient client, long size)
    {
        var response = await client.PostAsync("/echo", new StreamContent(new PatternStream(size)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains($"\"length\": {size}", await response.Content.ReadAsStringAsync());
    }

    /// <summary>A body generated on the fly, so the test itself does not hold it in memory.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            for (var i = 0; i < n; i++) buffer[offset + i] = (byte)((_position + i) % 251);
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>The access log is a contract with log pipelines: one JSON object per line with documented fields.</summary>
[Collection(HeavyCollection.Name)]
public sealed class AccessLogTests
{
    [Fact]
    public async Task EachRequestLogsOneJsonLineWithTheDocumentedFields()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "1k" });
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        var request = new HttpRequestMessage(HttpMethod.Post, "/echo?x=1") { Content = new ByteArrayContent(new byte[500]) };
        request.Headers.Add("X-Request-ID", "log-test-1");
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(request)).StatusCode);
        var tooBig = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(new byte[5000]) };
        tooBig.Headers.Add("X-Request-ID", "log-test-2");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await client.SendAsync(tooBig)).StatusCode);
        var chunked = new HttpRequestMessage(HttpMethod.Get, "/chunked?n=1000");
        chunked.Headers.Add("X-Request-ID", "log-test-3");
        var chunkedBody = await (await client.SendAsync(chunked)).Content.ReadAsByteArrayAsync();
        var unbuffered = new[] { "/stream?n=5&delay=0", "/sse?n=4&delay=0" }.Select(async (path, i) =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("X-Request-ID", $"log-test-stream-{i}");
            return (await (await client.SendAsync(request)).Content.ReadAsByteArrayAsync()).Length;
        });
        var unbufferedLengths = await Task.WhenAll(unbuffered);
        var compressed = new HttpRequestMessage(HttpMethod.Get, "/page?size=5000");
        compressed.Headers.Add("X-Request-ID", "log-test-gzip");
        compressed.Headers.Add("Accept-Encoding", "gzip");
        Assert.Equal("gzip", (await client.SendAsync(compressed)).Content.Headers.ContentEncoding.Single());

        var lines = await WaitForLinesAsync(sidecar, ["\"log-test-1\"", "\"log-test-2\"", "\"log-test-3\"", "\"log-test-stream-0\"", "\"log-test-stream-1\"", "\"log-test-gzip\""]);
        using var ok = System.Text.Json.JsonDocument.Parse(lines[0]);
        var root = ok.RootElement;
        Assert.Equal("POST", root.GetProperty("method").GetString());
        Assert.Equal("/echo", root.GetProperty("path").GetString());
        Assert.Equal("?x=1", root.GetProperty("query").GetString());
        Assert.Equal(200, root.GetProperty("status").GetInt32());
        Assert.Equal(500, root.GetProperty("bytes_in").GetInt64());
        Assert.True(root.GetProperty("bytes_out").GetInt64() > 0);
        Assert.Equal("127.0.0.1", root.GetProperty("client").GetString());
        Assert.Equal("default", root.GetProperty("route").GetString());
        foreach (var timing in new[] { "duration_ms", "upstream_ms", "request_buffer_ms", "response_buffer_ms" })
        {
            Assert.True(root.GetProperty(timing).GetDouble() >= 0, timing);
        }

        using var rejected = System.Text.Json.JsonDocument.Parse(lines[1]);
        Assert.Equal(413, rejected.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("body_too_large", rejected.RootElement.GetProperty("rejection").GetString());
        Assert.True(rejected.RootElement.GetProperty("bytes_out").GetInt64() > 0, "the 413's own message counts as bytes out");
        // A chunked answer has no Content-Length to fall back on: bytes_out is what was sent.
        using var streamed = System.Text.Json.JsonDocument.Parse(lines[2]);
        Assert.Equal(Enumerable.Range(0, 1000).Sum(i => $"chunk {i}\n".Length), chunkedBody.Length);
        Assert.Equal(chunkedBody.Length, streamed.RootElement.GetProperty("bytes_out").GetInt64());
        // So is a stream passed on unbuffered: X-Accel-Buffering: no, and server-sent events.
        Assert.Equal(Enumerable.Range(0, 5).Sum(i => $"chunk {i}\n".Length), unbufferedLengths[0]);
        Assert.Equal(Enumerable.Range(0, 4).Sum(i => $"data: event {i}\n\n".Length), unbufferedLengths[1]);
        for (var i = 0; i < 2; i++)
        {
            using var line = System.Text.Json.JsonDocument.Parse(lines[3 + i]);
            Assert.Equal(unbufferedLengths[i], line.RootElement.GetProperty("bytes_out").GetInt64());
        }

        // Dynamic compression drops the response's Content-Length; bytes_out is still the app's body size.
        using var gzipped = System.Text.Json.JsonDocument.Parse(lines[5]);
        Assert.Equal(5000, gzipped.RootElement.GetProperty("bytes_out").GetInt64());

        Assert.Contains("body_too_large", sidecar.Output);
    }

    [Fact]
    public async Task RequestsTheHttpServerRefusesLeaveAWarningNamingTheCauseAndAnAccessLogLine()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_HEADER_TIMEOUT"] = "1s",
            ["SIDECAR_MAX_HEADER_SIZE"] = "8k",
        });
        var seenBefore = gunicorn.Seen();

        Assert.Equal(400, RawHttp.Status(await RawHttp.ExchangeAsync(sidecar.Port, "GET /hello HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")));
        Assert.Equal(400, RawHttp.Status(await RawHttp.ExchangeAsync(sidecar.Port, "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")));
        Assert.Equal(431, RawHttp.Status(await RawHttp.ExchangeAsync(sidecar.Port, $"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 10_000)}\r\n\r\n")));
        // A head that never ends: Kestrel answers 408 once HeaderTimeout passes.
        Assert.Equal(408, RawHttp.Status(await RawHttp.ExchangeAsync(sidecar.Port, "GET /hello HTTP/1.1\r\nHost: x\r\n", TimeSpan.FromSeconds(5))));
        // A body error is the middleware's to report (a 400 with its own message); Kestrel's later event for it is not reported again.
        Assert.Equal(400, RawHttp.Status(await RawHttp.ExchangeAsync(sidecar.Port,
            "POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-bad-chunk\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n")));

        var lines = await WaitForLinesAsync(sidecar, ["Bad Header: 1", "Multiple Host headers", "Request headers too long", "request headers timed out", "\"log-bad-chunk\""]);
        var expected = new (int Status, string Rejection)[] { (400, "bad_request"), (400, "bad_request"), (431, "headers_too_large"), (408, "header_timeout") };
        for (var i = 0; i < expected.Length; i++)
        {
            using var line = System.Text.Json.JsonDocument.Parse(lines[i]);
            Assert.Equal(expected[i].Status, line.RootElement.GetProperty("status").GetInt32());
            Assert.Equal(expected[i].Rejection, line.RootElement.GetProperty("rejection").GetString());
            Assert.False(string.IsNullOrEmpty(line.RootElement.GetProperty("connection").GetString()));
            Assert.False(string.IsNullOrEmpty(line.RootElement.GetProperty("request_id").GetString()));
        }

        // Malformed chunking is a bad request, not a client that left: smuggling probes must show up as what they are.
        using (var badChunk = System.Text.Json.JsonDocument.Parse(lines[4]))
        {
            Assert.Equal("bad_request", badChunk.RootElement.GetProperty("rejection").GetString());
        }

        // The offending bytes are quoted, escaped, as Kestrel gives them only when asked for details.
        Assert.Contains("400 for a request the HTTP server refused (bad_request): Invalid request header: 'Bad Header: 1\\x0D\\x0A'", sidecar.Output);
        Assert.Contains("408 for a request the HTTP server refused (header_timeout): Reading the request headers timed out.", sidecar.Output);
        // Answered on the application port, so counted with the requests (the bad chunk under its route, as a POST).
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        Assert.Contains("sidecar_requests_total{route=\"none\",method=\"_OTHER\",status_class=\"4xx\"} 4\n", await admin.GetStringAsync("/metrics"));
        var chunkWarnings = sidecar.Output.Split('\n').Where(l => l.Contains("warn:") && l.Contains("Bad chunk size data")).ToArray();
        Assert.True(chunkWarnings.Length == 1, "one warning for the bad chunk, got:\n" + string.Join('\n', chunkWarnings));
        Assert.Contains("RequestBufferingMiddleware", chunkWarnings[0]);
        Assert.Equal(seenBefore, gunicorn.Seen());
    }

    [Fact]
    public async Task AHeadRequestSendsNoBodyBytes()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address);
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        var head = new HttpRequestMessage(HttpMethod.Head, "/big?size=100000");
        head.Headers.Add("X-Request-ID", "log-head");
        Assert.Equal(100000, (await client.SendAsync(head)).Content.Headers.ContentLength);

        using var line = System.Text.Json.JsonDocument.Parse((await WaitForLinesAsync(sidecar, ["\"log-head\""]))[0]);
        Assert.Equal(0, line.RootElement.GetProperty("bytes_out").GetInt64());
        var metrics = await client.GetStringAsync(new Uri(sidecar.AdminAddress, "/metrics"));
        Assert.DoesNotContain("sidecar_sent_bytes_total{route=\"default\"} 100000", metrics);
    }

    [Fact]
    public async Task AClientThatLeavesBeforeTheAnswerIsLoggedAndCountedAs499()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address);
        using var client = new HttpClient { BaseAddress = sidecar.Address };

        // Gave up waiting on the app: YARP leaves a 400 on the response, which the client never received and did not cause.
        var waiting = new HttpRequestMessage(HttpMethod.Get, "/sleep?s=2");
        waiting.Headers.Add("X-Request-ID", "log-499-wait");
        using (var giveUp = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.SendAsync(waiting, giveUp.Token));
        }

        var text = (await WaitForLinesAsync(sidecar, ["\"log-499-wait\""]))[0];
        using var line = System.Text.Json.JsonDocument.Parse(text);
        Assert.True(line.RootElement.GetProperty("status").GetInt32() == 499, text);
        Assert.Equal("client_aborted", line.RootElement.GetProperty("rejection").GetString());

        var metrics = await client.GetStringAsync(new Uri(sidecar.AdminAddress, "/metrics"));
        Assert.Contains("sidecar_requests_total{route=\"default\",method=\"GET\",status_class=\"4xx\"} 1", metrics);
    }

    [Fact]
    public async Task BodyBytesOfAnUploadCutShortAreNeverReadAsTheNextRequest()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address);
        var seenBefore = gunicorn.Seen();
        // The body declares 100 bytes, sends 48 that read like a request, and the client stops sending.
        const string Smuggled = "GET /status/299?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        for (var i = 0; i < 10; i++)
        {
            // A POST and a GET, each with a body the sidecar buffers before forwarding.
            var target = i % 2 == 0 ? "POST /echo" : "GET /hello";
            using var client = await RawHttp.SendAsync(sidecar.Port, $"{target} HTTP/1.1\r\nHost: x\r\nX-Request-ID: cut-{i}\r\nContent-Length: 100\r\n\r\n{Smuggled}");
            var stream = client.GetStream();
            client.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            await RawHttp.ReadUntilQuietAsync(stream, TimeSpan.FromSeconds(2));
        }

        await WaitForLinesAsync(sidecar, Enumerable.Range(0, 10).Select(i => $"\"cut-{i}\"").ToArray());
        await Task.Delay(500);
        Assert.DoesNotContain("smuggled", sidecar.Output);
        Assert.Equal(seenBefore, gunicorn.Seen());
    }

    [Fact]
    public async Task AClientLeavingWhileItsRefusedBodyIsDiscardedLogsNoFailure()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "1m" });
        for (var i = 0; i < 4; i++)
        {
            using var client = await RawHttp.SendAsync(sidecar.Port,
                $"POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-ID: leaves-{i}\r\nContent-Length: 20000000\r\n\r\n{new string('x', 30_000)}");
            await Task.Delay(300);
        }

        await WaitForLinesAsync(sidecar, Enumerable.Range(0, 4).Select(i => $"\"leaves-{i}\"").ToArray());
        await Task.Delay(500);
        // Kestrel's own drain of the body clashed with the sidecar's discarding read: "fail: ... Reading is already in progress".
        Assert.DoesNotContain("fail:", sidecar.Output);
    }

    [Fact]
    public async Task ASlowUploadIsLoggedOnceAsSlowBody()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_MIN_REQUEST_BODY_RATE"] = "100",
            ["SIDECAR_RATE_GRACE_PERIOD"] = "2s",
        });
        using var upload = await RawHttp.SendAsync(sidecar.Port, "POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-slow-body\r\nContent-Length: 1000\r\n\r\n");
        var stream = upload.GetStream();
        var answer = "";
        for (var i = 0; i < 100 && answer.Length == 0; i++)
        {
            try
            {
                await stream.WriteAsync("x"u8.ToArray());
            }
            catch (IOException)
            {
                break;
            }

            answer = await RawHttp.ReadUntilQuietAsync(stream, TimeSpan.FromMilliseconds(200));
        }

        Assert.Equal(408, RawHttp.Status(answer));
        // The setting named is the sidecar's, not Kestrel's option behind it.
        Assert.Contains("slower than 100 bytes/s after the first 2s (MinRequestBodyRate)", answer);
        await WaitForLinesAsync(sidecar, ["\"log-slow-body\""]);
        await Task.Delay(500);
        var accessLines = sidecar.Output.Split('\n').Where(l => l.StartsWith('{') && l.Contains("\"status\":408")).ToArray();
        Assert.True(accessLines.Length == 1, "one access-log line for the slow upload, got:\n" + string.Join('\n', accessLines));
        Assert.Contains("\"rejection\":\"slow_body\"", accessLines[0]);
        Assert.DoesNotContain("RefusedRequests", sidecar.Output);
    }

    /// <summary>Clients that reset the connection mid-upload are logged as such, and as nothing worse: Kestrel logged an error for each.</summary>
    [Fact]
    public async Task UploadsResetMidwayAreLoggedAsClientAbortsWithoutErrors()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address);
        for (var i = 0; i < 5; i++)
        {
            using var upload = await RawHttp.SendAsync(sidecar.Port, $"POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-reset-{i}\r\nContent-Length: 100000\r\n\r\n");
            await upload.GetStream().WriteAsync(new byte[10_000]);
            await Task.Delay(100);
            upload.Client.LingerState = new LingerOption(true, 0);
        }

        var lines = await WaitForLinesAsync(sidecar, Enumerable.Range(0, 5).Select(i => $"\"log-reset-{i}\"").ToArray());
        Assert.All(lines, line => Assert.Contains("\"rejection\":\"client_aborted\"", line));
        Assert.DoesNotContain("fail:", sidecar.Output);
        Assert.Equal(0, gunicorn.Seen());
    }

    /// <summary>
    /// A client that sends most of a body fast and then goes quiet passes the rate check, an average over the whole
    /// body, for hours (3 MB at 240 bytes/s); the idle timeout ends it and frees its temp file.
    /// </summary>
    [Fact]
    public async Task AnUploadThatGoesQuietIsEndedByTheIdleTimeoutAndItsSpoolFreed()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_BODY_IDLE_TIMEOUT"] = "2s",
            ["SIDECAR_MAX_BODY_SIZE"] = "10m",
        });
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        var seenBefore = gunicorn.Seen();
        async Task<double> SpoolBytes() => double.Parse((await admin.GetStringAsync("/metrics")).Split('\n')
            .Single(l => l.StartsWith("sidecar_spool_bytes ", StringComparison.Ordinal)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        using var upload = await RawHttp.SendAsync(sidecar.Port, "POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-idle-body\r\nContent-Length: 5000000\r\n\r\n");
        var stream = upload.GetStream();
        await stream.WriteAsync(new byte[3_000_000]);
        await Configuration.ConfigText.EventuallyAsync(async () => await SpoolBytes() > 2_000_000, "the quiet upload's bytes held in the spool");

        var answer = await RawHttp.ReadUntilQuietAsync(stream, TimeSpan.FromSeconds(6));

        Assert.Equal(408, RawHttp.Status(answer));
        Assert.Contains("nothing arrived for 2s after 3000000 bytes (BodyIdleTimeout)", answer);
        Assert.Contains("sidecar_rejections_total{reason=\"slow_body\"} 1\n", await admin.GetStringAsync("/metrics"));
        await Configuration.ConfigText.EventuallyAsync(async () => await SpoolBytes() == 0, "the spool freed");
        Assert.Equal(seenBefore, gunicorn.Seen());
    }

    [Fact]
    public async Task AnUnreachableUpstreamIsOneLogLineNamingTheCause()
    {
        await using var sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{Ports.Free()}"));
        using var client = new HttpClient { BaseAddress = sidecar.Address };

        Assert.Equal(HttpStatusCode.BadGateway, (await client.GetAsync("/x")).StatusCode);

        await WaitForLinesAsync(sidecar, ["\"status\":502"]);
        var warnings = sidecar.Output.Split('\n').Where(l => l.Contains("warn:")).ToArray();
        Assert.True(warnings.Length == 1, "one warning for the 502, got:\n" + string.Join('\n', warnings));
        Assert.Contains("cannot reach upstream", warnings[0]);
    }

    [Fact]
    public async Task AStaticDownloadTheClientLeavesIsCountedAsAClientAbort()
    {
        using var root = new ScratchDirectory("sidecar-static-abort-");
        // Far more than loopback's socket buffers can take in, so the download is still going when the client leaves.
        using (var big = File.Create(Path.Combine(root.Path, "big.bin")))
        {
            big.SetLength(200L << 20);
        }

        await using var sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{Ports.Free()}"), new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_ROOT"] = root.Path,
        });
        using (var download = await RawHttp.SendAsync(sidecar.Port, "GET /static/big.bin HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-static-abort\r\n\r\n"))
        {
            var buffer = new byte[64 << 10];
            for (var read = 0; read < 300_000;)
            {
                read += await download.GetStream().ReadAsync(buffer);
            }
        }

        var line = (await WaitForLinesAsync(sidecar, ["\"log-static-abort\""]))[0];
        Assert.Contains("\"rejection\":\"client_aborted\"", line);
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        Assert.Contains("sidecar_client_aborts_total{route=\"static\"} 1\n", await admin.GetStringAsync("/metrics"));
    }

    /// <summary>
    /// Past ResponseBufferMaxFile the rest of a response is read from the app at the client's pace: the app is busy
    /// for all of it, and the in-flight gauge and upstream_ms have to say so (they ended at the hand-off).
    /// </summary>
    [Fact]
    public async Task AResponsePastTheFileCapKeepsTheUpstreamInFlightUntilTheClientHasIt()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_RESPONSE_BUFFER_MAX_FILE"] = "1m",
        });
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        using var download = await RawHttp.SendAsync(sidecar.Port, "GET /big?size=30000000 HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-handoff\r\nConnection: close\r\n\r\n");
        var stream = download.GetStream();
        var buffer = new byte[64 << 10];
        long total = await stream.ReadAsync(buffer);
        await Task.Delay(1500);

        Assert.Contains("sidecar_upstream_requests_in_flight 1\n", await admin.GetStringAsync("/metrics"));
        for (int read; (read = await stream.ReadAsync(buffer)) > 0;)
        {
            total += read;
        }

        Assert.True(total > 30_000_000, $"only {total} bytes arrived");
        using var line = System.Text.Json.JsonDocument.Parse((await WaitForLinesAsync(sidecar, ["\"log-handoff\""]))[0]);
        Assert.True(line.RootElement.GetProperty("upstream_ms").GetDouble() >= 1500, line.RootElement.ToString());
        Assert.Contains("sidecar_upstream_requests_in_flight 0\n", await admin.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task AnUpstreamThatFailsMidBodyIsCountedAsTheUpstreamsFailureNeverAsAClientAbort()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_UPSTREAM_TIMEOUT"] = "1s" });
        using var client = new HttpClient { BaseAddress = sidecar.Address };

        // Spooled responses (over ResponseBufferMemory): the headers are out when the worker dies, so the sidecar cuts the
        // client off, which also cancels the request's RequestAborted; that used to be read, at random, as the client leaving.
        const int Failures = 8;
        for (var i = 0; i < Failures; i++)
        {
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetByteArrayAsync("/truncated?size=3000000"));
        }

        var stalled = new HttpRequestMessage(HttpMethod.Get, "/stall?size=3000000&s=3");
        stalled.Headers.Add("X-Request-ID", "log-stalled-body");
        await Assert.ThrowsAnyAsync<HttpRequestException>(async () => await (await client.SendAsync(stalled)).Content.ReadAsByteArrayAsync());

        // A stream passed on unbuffered (X-Accel-Buffering: no) that goes quiet: the same timeout, not a failure.
        var quiet = new HttpRequestMessage(HttpMethod.Get, "/stream?n=3&delay=3");
        quiet.Headers.Add("X-Request-ID", "log-quiet-stream");
        try
        {
            using var cut = await client.SendAsync(quiet, HttpCompletionOption.ResponseHeadersRead);
            await cut.Content.ReadAsByteArrayAsync();
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            // The connection is cut after the first chunk; the log line below is what is checked.
        }

        foreach (var text in await WaitForLinesAsync(sidecar, ["\"log-stalled-body\"", "\"log-quiet-stream\""]))
        {
            using var line = System.Text.Json.JsonDocument.Parse(text);
            Assert.Equal("upstream_timeout", line.RootElement.GetProperty("rejection").GetString());
        }

        Assert.Contains(sidecar.Output.Split('\n'), l => l.Contains("warn:") && l.Contains("GET /stream") && l.Contains("(upstream_timeout)"));
        var metrics = await client.GetStringAsync(new Uri(sidecar.AdminAddress, "/metrics"));
        Assert.Contains($"sidecar_rejections_total{{reason=\"upstream_failed\"}} {Failures}\n", metrics);
        Assert.Contains("sidecar_rejections_total{reason=\"upstream_timeout\"} 2\n", metrics);
        Assert.Contains("sidecar_client_aborts_total{route=\"default\"} 0\n", metrics);
        Assert.DoesNotContain("\"client_aborted\":true", sidecar.Output);
    }

    private static async Task<string[]> WaitForLinesAsync(SidecarProcess sidecar, string[] markers)
    {
        for (var i = 0; i < 100; i++)
        {
            var lines = sidecar.Output.Split('\n');
            var found = markers.Select(m => lines.FirstOrDefault(l => l.StartsWith('{') && l.Contains(m))).ToArray();
            if (found.All(l => l is not null))
            {
                return found!;
            }

            await Task.Delay(50);
        }

        throw new Xunit.Sdk.XunitException("access log lines missing; output was:\n" + sidecar.Output);
    }
}
