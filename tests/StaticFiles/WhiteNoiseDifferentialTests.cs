using System.Net;
using Sidecar.Tests.Infrastructure;
using static Sidecar.Tests.StaticFiles.StaticHttp;

namespace Sidecar.Tests.StaticFiles;

/// <summary>
/// The same STATIC_ROOT served by WhiteNoise (Debian's python3-whitenoise inside real gunicorn) and by the sidecar:
/// the decoded bytes must be identical for every file and encoding, and every header that differs must be one of
/// the differences listed (and justified) below. A new, unlisted difference fails the test.
/// </summary>
public sealed partial class CompressedCollectstaticTests
{
    private static readonly string[] ComparedHeaders =
    [
        "Content-Type", "Content-Encoding", "Content-Length", "Cache-Control", "Vary", "ETag", "Last-Modified",
        "Access-Control-Allow-Origin", "Accept-Ranges", "X-Content-Type-Options", "Content-Range",
    ];

    private sealed record Difference(string Header, Func<string, string, string, bool> Applies, string Why);

    /// <summary>(header, when it applies given ours/theirs/url, why the sidecar differs on purpose).</summary>
    private static readonly Difference[] IntendedDifferences =
    [
        new("ETag", (ours, theirs, _) => ours.Length == 34 || ours.Length == 37,
            "ours is the SHA-256 of the bytes sent: distinct per encoding (RFC 9110 §8.8.3) and equal on every replica; WhiteNoise's is mtime-size of the original, shared by all encodings and different per pod"),
        new("Cache-Control", (ours, theirs, _) => ours == "public, max-age=31536000, immutable" && theirs.Contains("max-age=315360000") && theirs.Contains("immutable"),
            "one year for hashed files, the conventional maximum (RFC 9111 advises against more; ASP.NET's MapStaticAssets uses the same); WhiteNoise sends ten years"),
        new("Content-Type", (ours, theirs, _) => ours.EndsWith("; charset=utf-8") && theirs == ours.Replace("charset=utf-8", "charset=\"utf-8\""),
            "charset unquoted, as RFC 9110 §8.3.2's examples and every browser write it; WhiteNoise's wsgiref quotes it"),
        new("Cache-Control", (ours, theirs, url) => url.Contains("/LICENSE.") && ours == "public, max-age=31536000, immutable" && theirs == "public, max-age=60",
            "an extension-less hashed name whose hash matches its MD5 is immutable too; WhiteNoise's test needs an extension to strip"),
        new("Content-Type", (ours, theirs, url) => url.EndsWith(".woff") && ours == "font/woff" && theirs == "application/font-woff",
            "font/woff is the registered type (RFC 8081); application/font-woff is obsolete"),
        new("Content-Type", (ours, theirs, url) => url.EndsWith(".map") && ours == "application/json" && theirs == "application/octet-stream",
            "source maps are JSON; octet-stream makes browsers download them"),
        new("Content-Type", (ours, theirs, url) => url.EndsWith(".webmanifest") && ours == "application/manifest+json" && theirs == "application/octet-stream",
            "the W3C manifest type; browsers warn on octet-stream"),
        new("Accept-Ranges", (ours, theirs, _) => ours == "bytes" && theirs == "",
            "both serve ranges; only the sidecar says so (RFC 9110 §14.3)"),
        new("X-Content-Type-Options", (ours, theirs, _) => ours == "nosniff" && theirs == "",
            "no content sniffing of user-visible assets"),
    ];

    [Fact]
    public async Task ServesTheSameBytesAsWhiteNoiseWithOnlyListedHeaderDifferences()
    {
        await using var whitenoise = await StartWhiteNoiseAsync();
        using var theirs = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{whitenoise.Port}"), Timeout = TimeSpan.FromSeconds(30) };
        using var ours = Client();

        var urls = fixture.Manifest.Values.Where((_, i) => i % 3 == 0)
            .Concat(["css/app.css", "js/app.js.map", "site.webmanifest", "LICENSE", "tiny.txt", "fonts/font.woff2", "img/photo.avif"])
            .Concat(new[] { "css/app.css", "js/app.js.map", "site.webmanifest", "LICENSE", "big.txt", "js/module.mjs", "app.wasm" }.Select(fixture.Hashed))
            .Distinct()
            .Select(name => "/static/" + name)
            .ToList();
        var unexplained = new List<string>();
        var used = new HashSet<Difference>();
        var compared = 0;
        foreach (var url in urls)
        {
            foreach (var acceptEncoding in new[] { "", "gzip", "br", "gzip, deflate, br" })
            {
                using var a = await ours.SendAsync(Get(url, ("Accept-Encoding", acceptEncoding)));
                using var b = await theirs.SendAsync(Get(url, ("Accept-Encoding", acceptEncoding)));
                Assert.Equal(HttpStatusCode.OK, a.StatusCode);
                Assert.Equal(HttpStatusCode.OK, b.StatusCode);
                Assert.Equal(await DecodedBody(b), await DecodedBody(a));
                Compare(url, $"Accept-Encoding: {acceptEncoding}", a, b, unexplained, used);
                compared++;
            }
        }

        Assert.True(compared > 200, $"only {compared} responses compared");
        Assert.True(unexplained.Count == 0, "unlisted differences from WhiteNoise:\n" + string.Join("\n", unexplained.Distinct().Take(30)));
        Assert.Equal(IntendedDifferences.Length, used.Count); // every listed difference is real, not a stale excuse
    }

    [Fact]
    public async Task DiffersFromWhiteNoiseWhereWhiteNoiseBreaksTheRfc()
    {
        await using var whitenoise = await StartWhiteNoiseAsync();
        using var theirs = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{whitenoise.Port}") };
        using var ours = Client();
        var url = Url("css/app.css");

        // One-byte range: WhiteNoise 416s a legal range (whitenoise#711); the sidecar sends the byte.
        using (var a = await ours.SendAsync(Get(url, ("Range", "bytes=0-0"))))
        using (var b = await theirs.SendAsync(Get(url, ("Range", "bytes=0-0"))))
        {
            Assert.Equal(HttpStatusCode.PartialContent, a.StatusCode);
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, b.StatusCode);
        }

        // q=0 means "not acceptable": WhiteNoise ignores q-values (whitenoise#352) and sends gzip anyway.
        using (var a = await ours.SendAsync(Get(url, ("Accept-Encoding", "gzip;q=0"))))
        using (var b = await theirs.SendAsync(Get(url, ("Accept-Encoding", "gzip;q=0"))))
        {
            Assert.Equal("", Header(a, "Content-Encoding"));
            Assert.Equal("gzip", Header(b, "Content-Encoding"));
        }

        // A weak If-None-Match and a list: RFC 9110 uses weak comparison; WhiteNoise compares the raw string.
        using (var first = await ours.SendAsync(Get(url)))
        using (var firstTheirs = await theirs.SendAsync(Get(url)))
        using (var a = await ours.SendAsync(Get(url, ("If-None-Match", $"\"x\", W/{Header(first, "ETag")}"))))
        using (var b = await theirs.SendAsync(Get(url, ("If-None-Match", $"\"x\", W/{Header(firstTheirs, "ETag")}"))))
        {
            Assert.Equal(HttpStatusCode.NotModified, a.StatusCode);
            Assert.Equal(HttpStatusCode.OK, b.StatusCode);
            // A 304 keeps CORS, so a cross-origin revalidation stays usable; WhiteNoise drops it.
            Assert.Equal("*", Header(a, "Access-Control-Allow-Origin"));
        }

        // The manifest maps every name to its hash; WhiteNoise publishes it, the sidecar does not by default.
        using (var a = await ours.SendAsync(Get("/static/staticfiles.json")))
        using (var b = await theirs.SendAsync(Get("/static/staticfiles.json")))
        {
            Assert.Equal(HttpStatusCode.NotFound, a.StatusCode);
            Assert.Equal(HttpStatusCode.OK, b.StatusCode);
        }
    }

    private static void Compare(string url, string request, HttpResponseMessage ours, HttpResponseMessage theirs, List<string> unexplained, HashSet<Difference> used)
    {
        foreach (var header in ComparedHeaders)
        {
            var a = Header(ours, header);
            var b = Header(theirs, header);
            if (a == b)
            {
                continue;
            }

            var reason = IntendedDifferences.FirstOrDefault(d => d.Header == header && d.Applies(a, b, url));
            if (reason is null)
            {
                unexplained.Add($"{url} ({request}) {header}: sidecar '{a}' vs WhiteNoise '{b}'");
            }
            else
            {
                used.Add(reason);
            }
        }
    }

    private async Task<WhiteNoiseServer> StartWhiteNoiseAsync()
    {
        var port = Ports.Free();
        var process = new ExternalProcess("/usr/bin/gunicorn",
            ["--bind", $"127.0.0.1:{port}", "--workers", "1", "--worker-class", "sync", "--chdir", fixture.ProjectDirectory, "wsgi:application"],
            environment: fixture.DjangoEnvironment);
        try
        {
            await Ports.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(30), () => process.Output);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }

        return new WhiteNoiseServer(process, port);
    }
}

/// <summary>gunicorn running the fixture's Django project, whose WhiteNoise middleware serves STATIC_ROOT.</summary>
internal sealed record WhiteNoiseServer(ExternalProcess Process, int Port) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
