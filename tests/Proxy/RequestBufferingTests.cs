using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Sidecar.Buffering;
using Microsoft.Extensions.DependencyInjection;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>Request bodies are read whole, re-framed and only then sent to a real gunicorn.</summary>
public sealed class RequestBufferingTests : IAsyncLifetime
{
    private Gunicorn _gunicorn = null!;

    public async Task InitializeAsync() => _gunicorn = await Gunicorn.StartAsync(workers: 2);

    public async Task DisposeAsync() => await _gunicorn.DisposeAsync();

    private static byte[] RandomBody(int size)
    {
        var body = new byte[size];
        Random.Shared.NextBytes(body);
        return body;
    }

    private static async Task<JsonElement> EchoAsync(HttpClient client, HttpContent content)
    {
        var response = await client.PostAsync("/echo", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task ChunkedUploadReachesTheAppReframedWithContentLength()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var body = RandomBody(300_000);
        var content = new StreamContent(new MemoryStream(body));
        content.Headers.ContentLength = null;
        var request = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await client.SendAsync(request);
        var echo = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body.Length, echo.GetProperty("length").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)), echo.GetProperty("sha256").GetString());
        Assert.Equal(body.Length.ToString(), echo.GetProperty("content_length").GetString());
        Assert.Equal(JsonValueKind.Null, echo.GetProperty("transfer_encoding").ValueKind);
    }

    [Fact]
    public async Task ExpectContinueIsAnsweredByTheSidecarAndNotForwarded()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var body = RandomBody(50_000);
        var request = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(body) };
        request.Headers.ExpectContinue = true;

        var response = await client.SendAsync(request);
        var echo = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(body.Length, echo.GetProperty("length").GetInt32());
        Assert.Equal(JsonValueKind.Null, echo.GetProperty("expect").ValueKind);
    }

    [Fact]
    public async Task DeclaredOversizedBodyIsRefusedBeforeAnythingIsRead()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "100k" });
        var seenBefore = _gunicorn.Seen();

        // Only headers are sent: the answer must come without the body ever being transmitted.
        var response = await RawHttp.ExchangeAsync(sidecar.Port,
            "POST /echo HTTP/1.1\r\nHost: app.example\r\nContent-Length: 200000\r\nExpect: 100-continue\r\n\r\n");

        Assert.Equal(413, RawHttp.Status(response));
        Assert.Contains("larger than the 100 KiB limit", response);
        Assert.DoesNotContain("100 Continue", response);
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task ClientThatSendsTheWholeOversizedBodyBeforeReadingStillGetsThe413()
    {
        // Python's requests and .NET's HttpClient write the whole body, then read. Without nginx's lingering close the
        // unread bytes make the kernel reset the connection and the client sees a broken pipe instead of the answer.
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "100k" });
        var seenBefore = _gunicorn.Seen();
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, sidecar.Port);
        var stream = socket.GetStream();
        var body = RandomBody(8 << 20);

        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {body.Length}\r\n\r\n"));
        await stream.WriteAsync(body);
        var response = await RawHttp.ReadUntilQuietAsync(stream, TimeSpan.FromSeconds(5));

        Assert.Equal(413, RawHttp.Status(response));
        Assert.Contains("larger than the 100 KiB limit", response);
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task ExpectWithoutABodyIsNotForwardedEither()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        var response = await RawHttp.ExchangeAsync(sidecar.Port,
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");

        Assert.Equal(200, RawHttp.Status(response));
        Assert.Contains("\"expect\": null", response);
        Assert.DoesNotContain("100 Continue", response);
    }

    [Fact]
    public async Task TheBodyLimitCountsTheDecodedBodyNotTheChunkFraming()
    {
        // 1,000 one-byte chunks are 6,005 bytes on the wire ("1\r\nX\r\n" each, then "0\r\n\r\n") but a 1,000-byte body,
        // which fits a 1k limit, as it does nginx's client_max_body_size.
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "1k" });
        static string Chunked(int bytes) => "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + string.Concat(Enumerable.Repeat("1\r\nx\r\n", bytes)) + "0\r\n\r\n";

        var fits = await RawHttp.ExchangeAsync(sidecar.Port, Chunked(1000));
        Assert.Equal(200, RawHttp.Status(fits));
        Assert.Contains("\"length\": 1000,", fits);

        var seenBefore = _gunicorn.Seen();
        Assert.Equal(413, RawHttp.Status(await RawHttp.ExchangeAsync(sidecar.Port, Chunked(1025))));
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task AChunkedBodyOverTheLimitOnAnUnbufferedRouteGetsTheSidecars413()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_REQUEST_BUFFERING"] = "off",
            ["SIDECAR_MAX_BODY_SIZE"] = "1k",
        });
        var chunk = new string('x', 4096);

        var response = await RawHttp.ExchangeAsync(sidecar.Port,
            $"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n{chunk}\r\n0\r\n\r\n", TimeSpan.FromSeconds(5));

        Assert.Equal(413, RawHttp.Status(response));
        Assert.Contains("request body is larger than the 1 KiB limit", response);
    }

    [Theory]
    [InlineData("80000000")]
    [InlineData("FFFFFFFFFFFFFFFFF5")]
    public async Task AChunkSizeTooLargeToHoldIsA400NotAnEmpty200(string chunkSize)
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        var seenBefore = _gunicorn.Seen();

        var response = await RawHttp.ExchangeAsync(sidecar.Port,
            $"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{chunkSize}\r\nabc", TimeSpan.FromSeconds(5));

        Assert.Equal(400, RawHttp.Status(response));
        Assert.Contains("request body not received", response);
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task ChunkedBodyCrossingTheLimitIsRefusedAndNeverForwarded()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "64k" });
        using var client = sidecar.Client();
        var seenBefore = _gunicorn.Seen();
        var content = new StreamContent(new MemoryStream(RandomBody(200_000)));
        var request = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        HttpResponseMessage? response = null;
        try
        {
            response = await client.SendAsync(request);
        }
        catch (HttpRequestException)
        {
            // The sidecar may close the connection while the client is still sending; that is a refusal too.
        }

        if (response is not null)
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        }

        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task PerRouteLimitComesFromRouteMetadata()
    {
        var config = Path.GetTempFileName();
        await File.WriteAllTextAsync(config, """
            {
              "ReverseProxy": {
                "Routes": {
                  "upload": { "ClusterId": "upstream", "Match": { "Path": "/echo" }, "Metadata": { "Sidecar.MaxBodySize": "1m" } },
                  "rest": { "ClusterId": "upstream", "Match": { "Path": "/{**any}" } }
                }
              }
            }
            """);
        try
        {
            using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string>
            {
                ["SIDECAR_CONFIG"] = config,
                ["SIDECAR_MAX_BODY_SIZE"] = "10k",
            });
            using var client = sidecar.Client();

            var echo = await EchoAsync(client, new ByteArrayContent(RandomBody(500_000)));
            Assert.Equal(500_000, echo.GetProperty("length").GetInt32());

            var elsewhere = await client.PostAsync("/hello", new ByteArrayContent(RandomBody(20_000)));
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, elsewhere.StatusCode);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task LargeUploadSpillsToDiskArrivesByteIdenticalAndLeavesNothingBehind()
    {
        using var scratch = new ScratchDirectory("sidecar-spool-");
        var spoolDir = scratch.Path;
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_MAX_BODY_SIZE"] = "64m",
            ["SIDECAR_TEMP_DIR"] = spoolDir,
        });
        using var client = sidecar.Client();
        var store = sidecar.Services.GetRequiredService<SpoolStore>();
        var body = RandomBody(40 << 20);

        var echo = await EchoAsync(client, new ByteArrayContent(body));

        Assert.Equal(body.Length, echo.GetProperty("length").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(body)), echo.GetProperty("sha256").GetString());
        Assert.True(store.FilesCreated >= 1, "a 40 MiB body should have gone to a temp file");
        Assert.True(store.BytesWritten >= body.Length - (64 << 10), $"only {store.BytesWritten} bytes were spooled to disk");
        Assert.Equal(0, store.BytesOnDisk);
        Assert.Empty(Directory.GetFileSystemEntries(spoolDir));
        Assert.Empty(OpenSpoolFiles(spoolDir));
    }

    [Fact]
    public async Task AbortedUploadReleasesItsSpoolAndNeverReachesTheApp()
    {
        using var scratch = new ScratchDirectory("sidecar-spool-");
        var spoolDir = scratch.Path;
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_TEMP_DIR"] = spoolDir });
        var store = sidecar.Services.GetRequiredService<SpoolStore>();
        var seenBefore = _gunicorn.Seen();

        using (var socket = new System.Net.Sockets.TcpClient())
        {
            await socket.ConnectAsync(IPAddress.Loopback, sidecar.Port);
            var stream = socket.GetStream();
            await stream.WriteAsync("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n"u8.ToArray());
            await stream.WriteAsync(RandomBody(1_000_000));
            await Task.Delay(300);
        }

        await WaitUntil(() => store.BytesOnDisk == 0 && OpenSpoolFiles(spoolDir).Count == 0, TimeSpan.FromSeconds(5));
        Assert.Equal(0, store.BytesOnDisk);
        Assert.Empty(OpenSpoolFiles(spoolDir));
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task SlowUploadDoesNotReachTheAppUntilComplete()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        var seenBefore = _gunicorn.Seen();
        using var socket = new System.Net.Sockets.TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, sidecar.Port);
        var stream = socket.GetStream();
        await stream.WriteAsync("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\nConnection: close\r\n\r\n"u8.ToArray());
        for (var i = 0; i < 2; i++)
        {
            await stream.WriteAsync(new byte[1000]);
            await Task.Delay(700);
            Assert.Equal(seenBefore, _gunicorn.Seen());
        }

        await stream.WriteAsync(new byte[1000]);
        var response = await RawHttp.ReadUntilQuietAsync(stream, TimeSpan.FromSeconds(10));
        Assert.Equal(200, RawHttp.Status(response));
        Assert.Contains("\"length\": 3000", response);
        Assert.Equal(seenBefore + 1, _gunicorn.Seen());
    }

    [Fact]
    public async Task FullSpoolGivesAClear507AndNothingReachesTheApp()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_SPOOL_QUOTA"] = "256k",
            ["SIDECAR_REQUEST_BUFFER_MEMORY"] = "16k",
        });
        using var client = sidecar.Client();
        var seenBefore = _gunicorn.Seen();

        var response = await client.PostAsync("/echo", new ByteArrayContent(RandomBody(1 << 20)));

        Assert.Equal((HttpStatusCode)507, response.StatusCode);
        Assert.Contains("SIDECAR_SPOOL_QUOTA", await response.Content.ReadAsStringAsync());
        // The body's unread rest must not be taken for the next request on this connection.
        Assert.True(response.Headers.ConnectionClose, "the 507 kept the connection open");
        Assert.Equal(seenBefore, _gunicorn.Seen());

        var small = await EchoAsync(client, new ByteArrayContent(RandomBody(8_000)));
        Assert.Equal(8_000, small.GetProperty("length").GetInt32());
    }

    [Fact]
    public Task UnwritableSpoolDirectoryGivesAClear507() => AnUploadPastMemoryGets507Naming("/nonexistent/sidecar-spool");

    [Fact]
    public async Task ASpoolDirectoryRefusingWritesGivesAClear507()
    {
        // An immutable directory refuses new files even to root (EPERM), the error a spool directory owned by
        // another user gives the sidecar's non-root user (EACCES); .NET reports both as UnauthorizedAccessException.
        var spool = Directory.CreateTempSubdirectory("sidecar-immutable-spool-");
        Assert.Equal(0, ProcessRun.Run("chattr", ["+i", spool.FullName]).ExitCode);
        try
        {
            await AnUploadPastMemoryGets507Naming(spool.FullName);
        }
        finally
        {
            ProcessRun.Run("chattr", ["-i", spool.FullName]);
            spool.Delete(recursive: true);
        }
    }

    /// <summary>An upload bigger than the memory buffer, with the spool in <paramref name="spoolDirectory"/>: 507 naming it, and nothing reaches the app.</summary>
    private async Task AnUploadPastMemoryGets507Naming(string spoolDirectory)
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_TEMP_DIR"] = spoolDirectory,
            ["SIDECAR_REQUEST_BUFFER_MEMORY"] = "16k",
        });
        using var client = sidecar.Client();
        var seenBefore = _gunicorn.Seen();

        var response = await client.PostAsync("/echo", new ByteArrayContent(RandomBody(100_000)));

        Assert.Equal((HttpStatusCode)507, response.StatusCode);
        Assert.Contains(spoolDirectory, await response.Content.ReadAsStringAsync());
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    /// <summary>Spool files are unlinked at creation, so the only trace of one is an open descriptor (of this test's spool directory).</summary>
    internal static List<string> OpenSpoolFiles(string directory) =>
        OpenFiles.Of("self").Where(target => target.StartsWith(directory, StringComparison.Ordinal)).ToList();

    internal static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
    }
}
