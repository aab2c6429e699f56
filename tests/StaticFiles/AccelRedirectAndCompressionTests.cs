using System.Net;
using System.Text;
using Sidecar.Tests.Infrastructure;
using static Sidecar.Tests.StaticFiles.StaticHttp;

namespace Sidecar.Tests.StaticFiles;

/// <summary>X-Accel-Redirect from real gunicorn to an internal mount, and compression of the app's own responses.</summary>
public sealed class AccelRedirectAndCompressionTests : IAsyncLifetime
{
    private const string Report = "quarterly report: every line of it is compressible text\n";
    private readonly string _protected = Directory.CreateTempSubdirectory("sidecar-protected-").FullName;
    private Gunicorn _gunicorn = null!;
    private SidecarFactory _sidecar = null!;

    public async Task InitializeAsync()
    {
        File.WriteAllText(Path.Combine(_protected, "file.txt"), string.Concat(Enumerable.Repeat(Report, 200)));
        Directory.CreateDirectory(Path.Combine(_protected, "docs"));
        File.WriteAllBytes(Path.Combine(_protected, "docs", "a b.bin"), Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray());
        _gunicorn = await Gunicorn.StartAsync(workers: 1);
        var mounts = $$"""[{"Url": "/protected/", "Root": "{{_protected}}", "Internal": true, "CacheControl": "private, max-age=0"}]""";
        _sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_MOUNTS"] = mounts,
            ["SIDECAR_STATIC_COMPRESS_DIR"] = Path.Combine(_protected, ".cache"),
        });
    }

    public async Task DisposeAsync()
    {
        _sidecar.Dispose();
        await _gunicorn.DisposeAsync();
        Directory.Delete(_protected, recursive: true);
    }

    [Fact]
    public async Task TheAppsRedirectIsServedFromTheInternalMountWithTheAppsHeaders()
    {
        using var client = _sidecar.Client();
        var expected = File.ReadAllBytes(Path.Combine(_protected, "file.txt"));
        using var response = await client.SendAsync(Get("/accel?path=/protected/file.txt"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal("attachment", Header(response, "Content-Disposition"));
        Assert.Equal("", Header(response, "X-Accel-Redirect"));
        Assert.Equal("text/plain; charset=utf-8", Header(response, "Content-Type"));
        Assert.Contains("private", Header(response, "Cache-Control"));
        Assert.NotEqual("", Header(response, "ETag"));
        // Not readable by other sites' scripts unless the mount says so: the global StaticAllowOrigin "*" is for assets.
        Assert.Equal("", Header(response, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task RangesConditionalsAndEncodingsWorkOnRedirectedFiles()
    {
        using var client = _sidecar.Client();
        var expected = File.ReadAllBytes(Path.Combine(_protected, "file.txt"));
        using var range = await client.SendAsync(Get("/accel?path=/protected/file.txt", ("Range", "bytes=5-9")));
        Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
        Assert.Equal(expected.AsSpan(5, 5).ToArray(), await range.Content.ReadAsByteArrayAsync());

        using var first = await client.SendAsync(Get("/accel?path=/protected/file.txt"));
        using var again = await client.SendAsync(Get("/accel?path=/protected/file.txt", ("If-None-Match", Header(first, "ETag"))));
        Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);

        using var encoded = await client.SendAsync(Get("/accel?path=/protected/docs/a%20b.bin"));
        Assert.Equal(HttpStatusCode.OK, encoded.StatusCode);
        Assert.Equal(4096, (await encoded.Content.ReadAsByteArrayAsync()).Length);
    }

    [Theory]
    [InlineData("application/pdf", "application/pdf")]
    [InlineData("text/html; charset=utf-8", "application/octet-stream")]
    public async Task TheAppsContentTypeIsKeptUnlessItIsTheEmptyBodyDefault(string appType, string expected)
    {
        using var client = _sidecar.Client();
        using var response = await client.SendAsync(Get("/accel?path=/protected/docs/a%2520b.bin&type=" + Uri.EscapeDataString(appType)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, Header(response, "Content-Type"));
    }

    [Fact]
    public async Task ErrorAnswersAreNotMadeCacheable()
    {
        using var client = _sidecar.Client();
        using var unsatisfiable = await client.SendAsync(Get("/accel?path=/protected/file.txt", ("Range", "bytes=999999-")));
        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, unsatisfiable.StatusCode);
        Assert.Equal("", Header(unsatisfiable, "Cache-Control"));
        using var failed = await client.SendAsync(Get("/accel?path=/protected/file.txt", ("If-Match", "\"nope\"")));
        Assert.Equal(HttpStatusCode.PreconditionFailed, failed.StatusCode);
        Assert.Equal("", Header(failed, "Cache-Control"));
    }

    [Theory]
    [InlineData("/protected/missing.txt")]
    [InlineData("/protected/../file.txt")]
    [InlineData("/protected/%2e%2e/etc/passwd")]
    [InlineData("/elsewhere/file.txt")]
    public async Task RedirectsToNothingAre404s(string target)
    {
        using var client = _sidecar.Client();
        using var response = await client.SendAsync(Get("/accel?path=" + Uri.EscapeDataString(target)));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("", Header(response, "Content-Disposition"));
    }

    [Fact]
    public async Task InternalMountsAreNeverReachableDirectly()
    {
        using var client = _sidecar.Client();
        using var response = await client.SendAsync(Get("/protected/file.txt"));
        // The request went on to the app, which has no such page.
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("\"error\": \"not found\"", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("br", "br")]
    [InlineData("gzip", "gzip")]
    [InlineData("identity", "")]
    public async Task AppResponsesAreCompressedOnceWithAWeakenedETag(string acceptEncoding, string expected)
    {
        using var client = _sidecar.Client();
        using var response = await client.SendAsync(Get("/page?size=20000", ("Accept-Encoding", acceptEncoding)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, Header(response, "Content-Encoding"));
        var body = Encoding.UTF8.GetString(await DecodedBody(response));
        Assert.Equal(20000, body.Length);
        Assert.StartsWith("<p>sidecar", body);
        if (expected.Length > 0)
        {
            Assert.Equal("W/\"page-20000\"", Header(response, "ETag"));
            Assert.Contains("Accept-Encoding", Header(response, "Vary"));
            Assert.Equal("", Header(response, "Accept-Ranges"));
        }
        else
        {
            Assert.Equal("\"page-20000\"", Header(response, "ETag"));
            Assert.Equal("bytes", Header(response, "Accept-Ranges"));
        }

        // Another client may get it compressed, so a shared cache must key on Accept-Encoding whatever this one asked.
        Assert.Contains("Accept-Encoding", Header(response, "Vary"));
    }

    [Fact]
    public async Task ARequestWithoutAcceptEncodingStillTellsCachesTheResponseVaries()
    {
        using var client = _sidecar.Client();
        using var page = await client.SendAsync(Get("/page?size=20000"));
        Assert.Equal("", Header(page, "Content-Encoding"));
        Assert.Equal("Accept-Encoding", Header(page, "Vary"));
        Assert.Equal("\"page-20000\"", Header(page, "ETag"));

        // Bytes that are never compressed do not vary.
        using var binary = await client.SendAsync(Get("/big?size=20000"));
        Assert.Equal("", Header(binary, "Vary"));
    }

    /// <summary>App responses are negotiated as static files are (RFC 9110 §12.5.3): "*" covers codings not named.</summary>
    [Theory]
    [InlineData("*;q=0.5, identity;q=0.6", "")]
    [InlineData("*;q=0.5, br;q=0.4", "gzip")]
    [InlineData("x-gzip", "gzip")]
    [InlineData("gzip, br", "br")]
    [InlineData("gzip;q=0, br;q=0", "")]
    [InlineData("*", "br")]
    public async Task AppResponsesAreNegotiatedLikeStaticFiles(string acceptEncoding, string expected)
    {
        using var client = _sidecar.Client();
        using var response = await client.SendAsync(Get("/page?size=20000", ("Accept-Encoding", acceptEncoding)));
        Assert.Equal(expected, Header(response, "Content-Encoding"));
        Assert.Equal(20000, (await DecodedBody(response)).Length);
    }

    [Fact]
    public async Task A304ForACompressedPageConfirmsTheValidatorTheClientHolds()
    {
        using var client = _sidecar.Client();
        using (var compressed = await client.SendAsync(Get("/page?size=20000", ("Accept-Encoding", "gzip"), ("If-None-Match", "W/\"page-20000\""))))
        {
            Assert.Equal(HttpStatusCode.NotModified, compressed.StatusCode);
            Assert.Equal("W/\"page-20000\"", Header(compressed, "ETag"));
            Assert.Contains("Accept-Encoding", Header(compressed, "Vary"));
        }

        // A client holding the app's own strong validator gets it back as the app sent it.
        using var plain = await client.SendAsync(Get("/page?size=20000", ("If-None-Match", "\"page-20000\"")));
        Assert.Equal(HttpStatusCode.NotModified, plain.StatusCode);
        Assert.Equal("\"page-20000\"", Header(plain, "ETag"));
    }

    /// <summary>
    /// A chunked body reaches the compressor a line at a time (gunicorn sends each yielded row as a chunk), as a
    /// streamed CSV export does. Compressed line by line, Brotli made it larger than plain.
    /// </summary>
    [Theory]
    [InlineData("br", 0.15)]
    [InlineData("gzip", 0.40)]
    public async Task ChunkedAppResponsesCompressAsWellAsWholeOnes(string coding, double mostOfPlain)
    {
        using var client = _sidecar.Client();
        var plain = await client.GetByteArrayAsync("/chunked?n=20000");
        using var response = await client.SendAsync(Get("/chunked?n=20000", ("Accept-Encoding", coding)));
        var raw = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(coding, Header(response, "Content-Encoding"));
        Assert.Equal(plain, Decode(raw, coding));
        Assert.True(raw.Length < plain.Length * mostOfPlain, $"{coding}: {raw.Length} bytes for {plain.Length} plain");
    }

    /// <summary>
    /// gzip comes out no larger than nginx's <c>gzip_comp_level 1</c> gives for the same body: the system's zlib, which
    /// nginx links, at level 1. .NET's own level 1 (zlib-ng's quick mode) gave 79.7 KB here, against zlib's 48.1 KB.
    /// </summary>
    [Fact]
    public async Task GzipIsAsSmallAsNginxsDefaultLevel()
    {
        using var client = _sidecar.Client();
        var plain = await client.GetByteArrayAsync("/chunked?n=20000");
        using var response = await client.SendAsync(Get("/chunked?n=20000", ("Accept-Encoding", "gzip")));
        var raw = await response.Content.ReadAsByteArrayAsync();

        using var scratch = new ScratchDirectory("gzip-level-");
        var file = Path.Combine(scratch.Path, "plain");
        await File.WriteAllBytesAsync(file, plain);
        var zlib = ProcessRun.Run("python3", ["-c", "import gzip, sys; print(len(gzip.compress(open(sys.argv[1], 'rb').read(), 1)))", file]);
        Assert.True(zlib.ExitCode == 0, zlib.Combined);
        var nginxLevel1 = int.Parse(zlib.Output.Trim());

        Assert.Equal(plain, Decode(raw, "gzip"));
        Assert.True(raw.Length <= nginxLevel1, $"gzip: {raw.Length} bytes; zlib level 1: {nginxLevel1} bytes, for {plain.Length} plain");
    }

    [Fact]
    public async Task SmallAndBinaryAppResponsesAreLeftAlone()
    {
        using var client = _sidecar.Client();
        using var small = await client.SendAsync(Get("/page?size=500", ("Accept-Encoding", "br")));
        Assert.Equal("", Header(small, "Content-Encoding"));
        using var binary = await client.SendAsync(Get("/big?size=100000", ("Accept-Encoding", "br")));
        Assert.Equal("", Header(binary, "Content-Encoding"));
        Assert.Equal(100000, (await binary.Content.ReadAsByteArrayAsync()).Length);
    }

    [Fact]
    public async Task ResponsesTheAppEncodedAreNotEncodedTwice()
    {
        using var client = _sidecar.Client();
        using var response = await client.SendAsync(Get("/gzipped?size=20000", ("Accept-Encoding", "br, gzip")));
        Assert.Equal("gzip", Header(response, "Content-Encoding"));
        var body = Encoding.UTF8.GetString(await DecodedBody(response));
        Assert.Equal(20000, body.Length);
        Assert.StartsWith("<p>sidecar", body);
    }

    [Fact]
    public async Task TheAppIsNotAskedToCompress()
    {
        using var client = _sidecar.Client();
        using var response = await client.SendAsync(Get("/headers", ("Accept-Encoding", "gzip")));
        var text = Encoding.UTF8.GetString(await DecodedBody(response));
        Assert.DoesNotContain("Accept-Encoding", text);
        Assert.Contains("Host", text);
    }
}
