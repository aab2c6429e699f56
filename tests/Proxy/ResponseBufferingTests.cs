using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Sidecar.Buffering;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>Responses are drained from gunicorn at loopback speed, so a client that reads slowly never pins a worker.</summary>
public sealed class ResponseBufferingTests : IAsyncLifetime
{
    private Gunicorn _gunicorn = null!;

    // One worker: if a slow reader pinned it, every other request would wait.
    public async Task InitializeAsync() => _gunicorn = await Gunicorn.StartAsync(workers: 1);

    public async Task DisposeAsync() => await _gunicorn.DisposeAsync();

    /// <summary>Opens a request for a big response and then reads nothing, with a tiny receive window.</summary>
    private static async Task<Socket> StartStalledDownloadAsync(int port, int size)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /big?size={size} HTTP/1.1\r\nHost: x\r\n\r\n"));
        return socket;
    }

    private static async Task<bool> AnswersWithinAsync(Uri address, TimeSpan timeout)
    {
        using var client = new HttpClient { BaseAddress = address, Timeout = timeout };
        try
        {
            return (await client.GetAsync("/hello")).StatusCode == HttpStatusCode.OK;
        }
        catch (TaskCanceledException)
        {
            return false;
        }
    }

    [Fact]
    public async Task SlowReaderDoesNotPinTheOnlyWorker()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var stalled = await StartStalledDownloadAsync(sidecar.Port, 16 << 20);
        await Task.Delay(1000);

        Assert.True(await AnswersWithinAsync(sidecar.Address, TimeSpan.FromSeconds(5)),
            "a second request waited behind a client that is not reading: the response was not buffered");
        var store = sidecar.Services.GetRequiredService<SpoolStore>();
        Assert.True(store.BytesOnDisk > 8 << 20, $"the unread response should sit in the spool, found {store.BytesOnDisk} bytes");
    }

    [Fact]
    public async Task WithoutResponseBufferingTheSameSlowReaderPinsTheWorker()
    {
        // The control experiment: proves the test above can tell buffering from streaming.
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_RESPONSE_BUFFERING"] = "off" });
        using var stalled = await StartStalledDownloadAsync(sidecar.Port, 16 << 20);
        await Task.Delay(1000);

        Assert.False(await AnswersWithinAsync(sidecar.Address, TimeSpan.FromSeconds(3)));
    }

    [Fact]
    public async Task BufferedResponseArrivesWholeAndSpoolIsReleased()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var body = await client.GetByteArrayAsync("/big?size=12000000");

        var expected = new byte[12_000_000];
        for (var i = 0; i < expected.Length; i++) expected[i] = (byte)(i % 256);
        Assert.Equal(SHA256.HashData(expected), SHA256.HashData(body));
        var store = sidecar.Services.GetRequiredService<SpoolStore>();
        await RequestBufferingTests.WaitUntil(() => store.BytesOnDisk == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(0, store.BytesOnDisk);
    }

    /// <summary>
    /// A client that stalls (so its response is spilled from memory to the temp file behind the bytes already there)
    /// and then reads on gets every byte in order. The body's 8-byte words each hold their own index, so a range
    /// delivered twice, dropped or out of place shows, as a repeating pattern would not.
    /// </summary>
    [Fact]
    public async Task AReaderThatStallsAndThenCatchesUpGetsEveryByteInOrder()
    {
        const int size = 16 << 20;
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(IPAddress.Loopback, sidecar.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /big?size={size}&numbered=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        var store = sidecar.Services.GetRequiredService<SpoolStore>();
        await RequestBufferingTests.WaitUntil(() => store.BytesOnDisk > size / 2, TimeSpan.FromSeconds(10));

        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        var response = received.ToArray();
        var head = response.AsSpan().IndexOf("\r\n\r\n"u8) + 4;
        Assert.StartsWith("HTTP/1.1 200", Encoding.ASCII.GetString(response, 0, head));
        Assert.Equal(size, response.Length - head);
        for (var word = 0; word < size / 8; word++)
        {
            var value = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(response.AsSpan(head + word * 8, 8));
            if (value != word)
            {
                Assert.Fail($"byte {word * 8} of the body holds word {value}");
            }
        }
    }

    [Fact]
    public async Task ResponsePastTheFileCapStreamsTheRestAndStillArrivesWhole()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_RESPONSE_BUFFER_MAX_FILE"] = "1m" });
        using var client = sidecar.Client();
        var body = await client.GetByteArrayAsync("/big?size=6000000");
        Assert.Equal(6_000_000, body.Length);
        Assert.All(new[] { 0, 1_048_575, 1_048_576, 5_999_999 }, i => Assert.Equal((byte)(i % 256), body[i]));
    }

    [Fact]
    public async Task ClientThatStopsReadingIsCutOffAfterTheIdleTimeoutAndItsSpoolReleased()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_UPSTREAM_TIMEOUT"] = "2s" });
        var store = sidecar.Services.GetRequiredService<SpoolStore>();
        using var admin = sidecar.Client(admin: true);
        // The metrics registry is process-wide and other in-process hosts may count too: compare, don't equate.
        var before = ClientAborts(admin);
        using var stalled = await StartStalledDownloadAsync(sidecar.Port, 16 << 20);

        await RequestBufferingTests.WaitUntil(() => store.BytesOnDisk == 0 && ClientAborts(admin) > before, TimeSpan.FromSeconds(15));

        Assert.True(ClientAborts(admin) > before, "the stalled reader was not cut off");
        Assert.Equal(0, store.BytesOnDisk);
    }

    private static double ClientAborts(HttpClient admin)
    {
        var exposition = admin.GetStringAsync("/metrics").GetAwaiter().GetResult();
        var line = exposition.Split('\n').SingleOrDefault(l => l.StartsWith("sidecar_client_aborts_total{route=\"default\"}", StringComparison.Ordinal));
        return line is null ? 0 : double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task ClientLeavingMidDownloadReleasesTheSpool()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        var store = sidecar.Services.GetRequiredService<SpoolStore>();
        using (var socket = await StartStalledDownloadAsync(sidecar.Port, 16 << 20))
        {
            await RequestBufferingTests.WaitUntil(() => store.BytesOnDisk > 8 << 20, TimeSpan.FromSeconds(10));
            Assert.True(store.BytesOnDisk > 8 << 20);
        }

        await RequestBufferingTests.WaitUntil(() => store.BytesOnDisk == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, store.BytesOnDisk);
    }

    [Fact]
    public async Task UpstreamDyingMidBodyIsNotPassedOffAsACompleteResponse()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var store = sidecar.Services.GetRequiredService<SpoolStore>();

        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetByteArrayAsync("/truncated?size=3000000"));

        await RequestBufferingTests.WaitUntil(() => store.BytesOnDisk == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, store.BytesOnDisk);
    }

    [Fact]
    public async Task SmallBodyCutShortBecomesA502InsteadOfATruncatedResponse()
    {
        // Under ResponseBufferMemory a body is read whole before the headers go out, so a failure can still be reported.
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();

        var response = await client.GetAsync("/truncated?size=40000");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("upstream", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hello")).StatusCode);
    }

    [Fact]
    public async Task SmallBodyThatStallsPastTheUpstreamTimeoutBecomesA504()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_UPSTREAM_TIMEOUT"] = "1s" });
        using var client = sidecar.Client();

        var response = await client.GetAsync("/stall?size=40000&s=3");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("stopped in the middle of its response", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ClientLeavingWhileASmallBodyIsReadCountsAsAClientAbortNotAnUpstreamFailure()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var admin = sidecar.Client(admin: true);
        var before = ClientAborts(admin);
        using (var socket = new Socket(SocketType.Stream, ProtocolType.Tcp))
        {
            await socket.ConnectAsync(IPAddress.Loopback, sidecar.Port);
            await socket.SendAsync(Encoding.ASCII.GetBytes("GET /stall?size=40000&s=2 HTTP/1.1\r\nHost: x\r\n\r\n"));
            await Task.Delay(500);
        }

        await RequestBufferingTests.WaitUntil(() => ClientAborts(admin) > before, TimeSpan.FromSeconds(10));
        Assert.True(ClientAborts(admin) > before, "a client that left mid-request was not counted as a client abort");
    }

    [Fact]
    public async Task SmallBodyThatStallsWithinTheUpstreamTimeoutArrivesWhole()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_UPSTREAM_TIMEOUT"] = "5s" });
        using var client = sidecar.Client();

        var body = await client.GetByteArrayAsync("/stall?size=40000&s=0.5");

        Assert.Equal(40000, body.Length);
        Assert.Equal(Enumerable.Range(0, 40000).Select(i => (byte)i), body);
    }

    [Theory]
    [InlineData("/stream?n=3&delay=1", null)]
    [InlineData("/stream?n=3&delay=1", "gzip")]
    [InlineData("/stream?n=3&delay=1", "br")]
    [InlineData("/sse?n=3&delay=1", null)]
    // Compressed, a stream the app did not ask to pass unbuffered still goes out at least once a second.
    [InlineData("/trickle?n=8&delay=0.5", "gzip")]
    [InlineData("/trickle?n=8&delay=0.5", "br")]
    public async Task StreamingResponsesAreNotHeldBack(string path, string? acceptEncoding)
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var watch = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (acceptEncoding is not null)
        {
            request.Headers.Add("Accept-Encoding", acceptEncoding);
        }

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(acceptEncoding ?? "", string.Join(",", response.Content.Headers.ContentEncoding));
        await using var stream = await response.Content.ReadAsStreamAsync();
        var first = new byte[64];
        var read = await stream.ReadAsync(first);
        var firstChunkAfter = watch.Elapsed;
        await new StreamReader(stream).ReadToEndAsync();
        var total = watch.Elapsed;

        Assert.True(read > 0);
        Assert.True(total - firstChunkAfter > TimeSpan.FromSeconds(1.5),
            $"the first chunk came at {firstChunkAfter}, only just before the end at {total}: the stream was buffered");
        Assert.False(response.Headers.Contains("X-Accel-Buffering"));
    }

    [Theory]
    [InlineData("HEAD", "/big?size=100000", 200)]
    [InlineData("GET", "/status/204", 204)]
    [InlineData("GET", "/status/304", 304)]
    public async Task BodilessResponsesPassThrough(string method, string path, int status)
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }
}
