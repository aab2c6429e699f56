using System.Net;
using Prometheus;
using Sidecar.StaticFiles;
using Sidecar.Tests.Infrastructure;
using static Sidecar.Tests.StaticFiles.StaticHttp;

namespace Sidecar.Tests.StaticFiles;

/// <summary>The sidecar serving real collectstatic output written by WhiteNoise's CompressedManifestStaticFilesStorage.</summary>
public sealed partial class CompressedCollectstaticTests(CompressedStatic fixture) : IClassFixture<CompressedStatic>
{
    private const string Immutable = "public, max-age=31536000, immutable";
    private const string Short = "public, max-age=60";

    private HttpClient Client() => fixture.Sidecar.Client();

    private string Url(string original) => "/static/" + fixture.Hashed(original);

    [Fact]
    public async Task ServesEveryCollectedFileWithItsExactBytes()
    {
        using var client = Client();
        var names = fixture.Manifest.Keys.Concat(fixture.Manifest.Values).Distinct().ToList();
        Assert.True(names.Count > 100, "the admin's assets should be part of the collected tree");
        foreach (var name in names)
        {
            using var response = await client.SendAsync(Get("/static/" + name));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(fixture.Bytes(name), await response.Content.ReadAsByteArrayAsync());
        }
    }

    [Fact]
    public async Task EveryPrecompressedVariantDecodesToTheOriginal()
    {
        using var client = Client();
        var checkedVariants = 0;
        foreach (var name in fixture.Manifest.Values)
        {
            foreach (var (coding, suffix) in new[] { ("br", ".br"), ("gzip", ".gz") })
            {
                if (!File.Exists(Path.Combine(fixture.StaticRoot, name + suffix)))
                {
                    continue;
                }

                using var response = await client.SendAsync(Get("/static/" + name, ("Accept-Encoding", coding)));
                Assert.Equal(coding, Header(response, "Content-Encoding"));
                Assert.Equal(fixture.Bytes(name + suffix), await response.Content.ReadAsByteArrayAsync());
                Assert.Equal(fixture.Bytes(name), await DecodedBody(response));
                Assert.Equal("Accept-Encoding", Header(response, "Vary"));
                checkedVariants++;
            }
        }

        Assert.True(checkedVariants > 100, $"only {checkedVariants} variants were checked");
    }

    [Theory]
    [InlineData("css/app.css")]
    [InlineData("admin/css/base.css")]
    [InlineData("admin/js/core.js")]
    [InlineData("LICENSE")]
    [InlineData("fonts/font.woff2")]
    public async Task HashedNamesAreCachedForeverAndOriginalsBriefly(string original)
    {
        using var client = Client();
        using var hashed = await client.SendAsync(Get(Url(original)));
        Assert.Equal(Immutable, Header(hashed, "Cache-Control"));
        using var plain = await client.SendAsync(Get("/static/" + original));
        Assert.Equal(Short, Header(plain, "Cache-Control"));
    }

    [Theory]
    [InlineData("css/app.css", "text/css; charset=utf-8")]
    [InlineData("js/app.js", "text/javascript; charset=utf-8")]
    [InlineData("js/module.mjs", "text/javascript; charset=utf-8")]
    [InlineData("js/app.js.map", "application/json")]
    [InlineData("site.webmanifest", "application/manifest+json")]
    [InlineData("app.wasm", "application/wasm")]
    [InlineData("fonts/font.woff2", "font/woff2")]
    [InlineData("img/photo.avif", "image/avif")]
    [InlineData("img/logo.svg", "image/svg+xml")]
    [InlineData("data.json", "application/json")]
    [InlineData("tiny.txt", "text/plain; charset=utf-8")]
    [InlineData("LICENSE", "application/octet-stream")]
    public async Task ContentTypesComeFromTheTable(string original, string expected)
    {
        using var client = Client();
        using var response = await client.SendAsync(Get("/static/" + original));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, Header(response, "Content-Type"));
        Assert.Equal("nosniff", Header(response, "X-Content-Type-Options"));
        Assert.Equal("*", Header(response, "Access-Control-Allow-Origin"));
        Assert.Equal("bytes", Header(response, "Accept-Ranges"));
    }

    [Theory]
    [InlineData(null, "")]
    [InlineData("", "")]
    [InlineData("gzip, deflate, br", "br")]
    [InlineData("br", "br")]
    [InlineData("gzip", "gzip")]
    [InlineData("x-gzip", "gzip")]
    [InlineData("identity", "")]
    [InlineData("br;q=0, gzip", "gzip")]
    [InlineData("gzip;q=0, br;q=0", "")]
    [InlineData("gzip;q=1.0, br;q=0.5", "gzip")]
    [InlineData("br;q=0.9, gzip;q=0.9", "br")]
    [InlineData("*", "br")]
    [InlineData("*;q=0", "")]
    [InlineData("*, br;q=0", "gzip")]
    [InlineData("identity;q=1, *;q=0", "")]
    [InlineData("GZIP", "gzip")]
    [InlineData("x-gzip-really", "")]
    [InlineData("deflate", "")]
    [InlineData("br;q=abc, gzip", "gzip")]
    [InlineData("identity;q=0", "")]
    [InlineData("identity;q=0, gzip;q=0.1", "gzip")]
    [InlineData("br;q=0.1", "br")]
    public async Task AcceptEncodingIsNegotiatedPerRfc9110(string? acceptEncoding, string expected)
    {
        using var client = Client();
        var request = Get(Url("css/app.css"));
        if (acceptEncoding is not null)
        {
            request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(expected, Header(response, "Content-Encoding"));
        Assert.Equal("Accept-Encoding", Header(response, "Vary"));
        Assert.Equal(fixture.Bytes(fixture.Hashed("css/app.css")), await DecodedBody(response));
    }

    [Fact]
    public async Task ETagsAreContentHashesThatDifferPerEncoding()
    {
        using var client = Client();
        var name = fixture.Hashed("css/app.css");
        var tags = new Dictionary<string, string>();
        foreach (var (coding, suffix, tagSuffix) in new[] { ("identity", "", ""), ("br", ".br", "-br"), ("gzip", ".gz", "-gz") })
        {
            using var response = await client.SendAsync(Get("/static/" + name, ("Accept-Encoding", coding)));
            var expected = "\"" + Convert.ToHexStringLower(System.IO.Hashing.XxHash128.Hash(fixture.Bytes(name + suffix))) + tagSuffix + "\"";
            Assert.Equal(expected, Header(response, "ETag"));
            tags[coding] = expected;
        }

        Assert.Equal(3, tags.Values.Distinct().Count());
    }

    [Fact]
    public async Task ETagsAreIdenticalOnAnotherReplicaWithOtherModificationTimes()
    {
        var copy = Directory.CreateTempSubdirectory("sidecar-static-replica-").FullName;
        try
        {
            foreach (var file in fixture.Files().Where(f => f.Contains("/css/")))
            {
                var target = Path.Combine(copy, Path.GetRelativePath(fixture.StaticRoot, file));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
                File.SetLastWriteTimeUtc(target, new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc));
            }

            using var replica = new SidecarFactory(new Uri("http://127.0.0.1:1"), new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = copy, ["SIDECAR_STATIC_COMPRESS"] = "off" });
            using var replicaClient = replica.Client();
            using var client = Client();
            foreach (var coding in new[] { "identity", "br", "gzip" })
            {
                using var ours = await client.SendAsync(Get(Url("css/app.css"), ("Accept-Encoding", coding)));
                using var theirs = await replicaClient.SendAsync(Get(Url("css/app.css"), ("Accept-Encoding", coding)));
                Assert.Equal(Header(ours, "ETag"), Header(theirs, "ETag"));
                Assert.NotEqual(Header(ours, "Last-Modified"), Header(theirs, "Last-Modified"));
            }
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    public static TheoryData<string, string, int> ConditionalCases() => new()
    {
        // header, value template ({etag}, {etag-br}, {lm}, {before}, {after}), expected status (identity request)
        { "If-None-Match", "{etag}", 304 },
        { "If-None-Match", "W/{etag}", 304 },
        { "If-None-Match", "\"other\", {etag}", 304 },
        { "If-None-Match", "*", 304 },
        { "If-None-Match", "\"other\"", 200 },
        { "If-None-Match", "{etag-br}", 200 },
        { "If-None-Match", "garbage", 200 },
        { "If-Modified-Since", "{lm}", 304 },
        { "If-Modified-Since", "{after}", 304 },
        { "If-Modified-Since", "{before}", 200 },
        { "If-Modified-Since", "not a date", 200 },
        { "If-Match", "{etag}", 200 },
        { "If-Match", "\"a\", {etag}", 200 },
        { "If-Match", "*", 200 },
        { "If-Match", "\"other\"", 412 },
        { "If-Match", "W/{etag}", 412 },
        { "If-Unmodified-Since", "{lm}", 200 },
        { "If-Unmodified-Since", "{before}", 412 },
        { "If-Unmodified-Since", "{after}", 200 },
    };

    [Theory]
    [MemberData(nameof(ConditionalCases))]
    public async Task ConditionalRequestsFollowRfc9110(string header, string template, int expected)
    {
        using var client = Client();
        var url = Url("css/app.css");
        var validators = await Validators(client, url);
        using var response = await client.SendAsync(Get(url, ("Accept-Encoding", "identity"), (header, Fill(template, validators))));
        Assert.Equal(expected, (int)response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync();
        if (expected == 304)
        {
            Assert.Empty(body);
            Assert.Equal(validators.ETag, Header(response, "ETag"));
            Assert.Equal(Immutable, Header(response, "Cache-Control"));
            Assert.Equal("Accept-Encoding", Header(response, "Vary"));
            Assert.Equal("*", Header(response, "Access-Control-Allow-Origin"));
            Assert.Equal("", Header(response, "Content-Encoding"));
        }
        else if (expected == 200)
        {
            Assert.Equal(fixture.Bytes(fixture.Hashed("css/app.css")), body);
        }
        else
        {
            Assert.Equal("", Header(response, "Cache-Control"));
        }
    }

    [Fact]
    public async Task IfNoneMatchTakesPrecedenceOverIfModifiedSince()
    {
        using var client = Client();
        var url = Url("css/app.css");
        var validators = await Validators(client, url);
        using var changed = await client.SendAsync(Get(url, ("If-None-Match", "\"stale\""), ("If-Modified-Since", validators.LastModified)));
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        using var same = await client.SendAsync(Get(url, ("If-None-Match", validators.ETag), ("If-Modified-Since", Fill("{before}", validators))));
        Assert.Equal(HttpStatusCode.NotModified, same.StatusCode);
    }

    [Fact]
    public async Task NotModifiedForACompressedRepresentationKeepsVaryAndItsOwnETag()
    {
        using var client = Client();
        var url = Url("css/app.css");
        using var first = await client.SendAsync(Get(url, ("Accept-Encoding", "br")));
        var etag = Header(first, "ETag");
        using var again = await client.SendAsync(Get(url, ("Accept-Encoding", "br"), ("If-None-Match", etag)));
        Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);
        Assert.Equal(etag, Header(again, "ETag"));
        Assert.Equal("Accept-Encoding", Header(again, "Vary"));
        using var head = await client.SendAsync(Request(HttpMethod.Head, url, ("Accept-Encoding", "br")));
        Assert.Equal("Accept-Encoding", Header(head, "Vary"));
        Assert.Equal("br", Header(head, "Content-Encoding"));
        Assert.Equal(fixture.Bytes(fixture.Hashed("css/app.css") + ".br").Length, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    public static TheoryData<string, int, long, long> RangeCases() => new()
    {
        // Range header, expected status, first byte, length (of the identity bytes)
        { "bytes=0-0", 206, 0, 1 },
        { "bytes=-1", 206, -1, 1 },
        { "bytes=10-19", 206, 10, 10 },
        { "bytes=100-", 206, 100, -1 },
        { "bytes=-100", 206, -100, 100 },
        { "bytes=0-999999999", 206, 0, -1 },
        { "bytes=-999999999", 206, 0, -1 },
        { "bytes=0-0,5-6", 200, 0, -1 },
        { "bytes=abc", 200, 0, -1 },
        { "bytes=5-1", 200, 0, -1 },
        { "items=0-1", 200, 0, -1 },
        { "bytes={len}-", 416, 0, 0 },
        { "bytes=-0", 416, 0, 0 },
    };

    /// <summary>An empty file has no byte a 206 could name: "the last 5 bytes" of it is the whole (empty) file, a 200.</summary>
    [Theory]
    [InlineData("bytes=-5", false)]
    [InlineData("bytes=0-", true)]
    [InlineData("bytes=-0", true)]
    public void RangesOfAnEmptyFile(string header, bool unsatisfiable)
    {
        var range = Sidecar.StaticFiles.ByteRange.Parse(header, length: 0);
        Assert.Equal(unsatisfiable, range.IsUnsatisfiable);
        Assert.Equal(unsatisfiable ? Sidecar.StaticFiles.ByteRange.Unsatisfiable : Sidecar.StaticFiles.ByteRange.None, range);
    }

    [Theory]
    [MemberData(nameof(RangeCases))]
    public async Task SingleByteRangesComeFromTheIdentityBytes(string range, int expected, long first, long length)
    {
        using var client = Client();
        var name = fixture.Hashed("css/app.css");
        var bytes = fixture.Bytes(name);
        var header = range.Replace("{len}", bytes.Length.ToString());
        // The client accepts br, yet a satisfiable range is answered from the uncompressed bytes.
        using var response = await client.SendAsync(Get("/static/" + name, ("Range", header), ("Accept-Encoding", "br")));
        Assert.Equal(expected, (int)response.StatusCode);
        Assert.Equal("Accept-Encoding", Header(response, "Vary"));
        var body = await response.Content.ReadAsByteArrayAsync();
        if (expected == 206)
        {
            var start = first < 0 ? bytes.Length + first : first;
            var count = length < 0 ? bytes.Length - start : length;
            Assert.Equal("", Header(response, "Content-Encoding"));
            Assert.Equal(bytes.AsSpan((int)start, (int)count).ToArray(), body);
            Assert.Equal($"bytes {start}-{start + count - 1}/{bytes.Length}", Header(response, "Content-Range"));
        }
        else if (expected == 416)
        {
            Assert.Equal($"bytes */{bytes.Length}", Header(response, "Content-Range"));
            Assert.Equal("", Header(response, "Cache-Control"));
            Assert.Empty(body);
        }
        else
        {
            Assert.Equal(bytes, await DecodedBody(response));
        }
    }

    [Fact]
    public async Task IfRangeAppliesTheRangeOnlyToTheCurrentIdentity()
    {
        using var client = Client();
        var url = Url("css/app.css");
        var validators = await Validators(client, url);
        using var current = await client.SendAsync(Get(url, ("Range", "bytes=0-9"), ("If-Range", validators.ETag)));
        Assert.Equal(HttpStatusCode.PartialContent, current.StatusCode);
        using var byDate = await client.SendAsync(Get(url, ("Range", "bytes=0-9"), ("If-Range", validators.LastModified)));
        Assert.Equal(HttpStatusCode.PartialContent, byDate.StatusCode);
        using var stale = await client.SendAsync(Get(url, ("Range", "bytes=0-9"), ("If-Range", "\"stale\""), ("Accept-Encoding", "br")));
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal("br", Header(stale, "Content-Encoding"));
        Assert.Equal(fixture.Bytes(fixture.Hashed("css/app.css")), await DecodedBody(stale));
        using var weak = await client.SendAsync(Get(url, ("Range", "bytes=0-9"), ("If-Range", "W/" + validators.ETag)));
        Assert.Equal(HttpStatusCode.OK, weak.StatusCode);
    }

    [Fact]
    public async Task LargeFilesAreSentFromDiskWithRanges()
    {
        using var client = Client();
        var name = fixture.Hashed("big.txt");
        var bytes = fixture.Bytes(name);
        Assert.True(bytes.Length > MemoryBudget.MaxFileBytes);
        using var whole = await client.SendAsync(Get("/static/" + name, ("Accept-Encoding", "identity")));
        Assert.Equal(bytes, await whole.Content.ReadAsByteArrayAsync());
        using var tail = await client.SendAsync(Get("/static/" + name, ("Range", "bytes=300000-")));
        Assert.Equal(bytes.AsSpan(300000).ToArray(), await tail.Content.ReadAsByteArrayAsync());
        using var br = await client.SendAsync(Get("/static/" + name, ("Accept-Encoding", "br")));
        Assert.Equal(bytes, await DecodedBody(br));
    }

    [Fact]
    public async Task OnlyGetAndHeadAreAllowed()
    {
        using var client = Client();
        foreach (var method in new[] { HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete, HttpMethod.Options, HttpMethod.Patch })
        {
            using var response = await client.SendAsync(Request(method, Url("css/app.css")));
            Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
            Assert.Equal("GET, HEAD", Header(response, "Allow"));
        }

        using var head = await client.SendAsync(Request(HttpMethod.Head, Url("css/app.css")));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(fixture.Bytes(fixture.Hashed("css/app.css")).Length, head.Content.Headers.ContentLength);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("/static/staticfiles.json")]
    [InlineData("/static/css/app.css.br")]
    [InlineData("/static/css/app.css.gz")]
    [InlineData("/static/css/")]
    [InlineData("/static/css")]
    [InlineData("/static/")]
    [InlineData("/static/missing.css")]
    [InlineData("/static/.env")]
    [InlineData("/static/escape.txt")]
    public async Task MissesAreLocal404sThatNoCacheKeeps(string path)
    {
        using var client = Client();
        using var response = await client.SendAsync(Get(path));
        // The upstream is a closed port: a request that reached it would be a 502, not this 404.
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("no-store", Header(response, "Cache-Control"));
        Assert.DoesNotContain(CollectstaticFixture.Secret, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task SymlinksInsideTheRootAreServed()
    {
        using var client = Client();
        using var response = await client.SendAsync(Get("/static/alias.txt"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("hi\n", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/static/../secret.txt")]
    [InlineData("/static/..%2fsecret.txt")]
    [InlineData("/static/..%2Fsecret.txt")]
    [InlineData("/static/%2e%2e/secret.txt")]
    [InlineData("/static/%2e%2e%2fsecret.txt")]
    [InlineData("/static/.%2e/secret.txt")]
    [InlineData("/static/..\\secret.txt")]
    [InlineData("/static/..%5csecret.txt")]
    [InlineData("/static/%252e%252e%252fsecret.txt")]
    [InlineData("/static/%c0%ae%c0%ae/secret.txt")]
    [InlineData("/static/%c0%ae%c0%ae%c0%afsecret.txt")]
    [InlineData("/static/%e0%80%ae%e0%80%ae/secret.txt")]
    [InlineData("/static/tiny.txt%00.css")]
    [InlineData("/static/%00../secret.txt")]
    [InlineData("/static/up/secret.txt")]
    [InlineData("/static/escape.txt")]
    [InlineData("/static/.env")]
    [InlineData("/static/.git/config")]
    [InlineData("/static/%2egit/config")]
    [InlineData("/static//etc/passwd")]
    [InlineData("/static/%2fetc%2fpasswd")]
    [InlineData("/static/css/../../secret.txt")]
    [InlineData("/static/css/%2e%2e/%2e%2e/secret.txt")]
    [InlineData("/static/css/..;/../secret.txt")]
    public async Task TraversalCorpusFindsNothing(string target)
    {
        var (status, text) = await RawAsync(fixture.Sidecar.Port, target);
        Assert.DoesNotContain(CollectstaticFixture.Secret, text);
        Assert.DoesNotContain("root:x:0:0", text);
        Assert.NotEqual(200, status);
        Assert.NotEqual(0, status);
    }

    [Fact]
    public async Task StaticResponsesAreCountedForPrometheus()
    {
        using var client = Client();
        using (await client.SendAsync(Get(Url("css/app.css"), ("Accept-Encoding", "br")))) { }
        using (await client.SendAsync(Get("/static/nope.css"))) { }
        var text = await Scrape();
        Assert.Matches(@"sidecar_static_responses_total\{mount=""static"",encoding=""br"",status=""200""\} [1-9]", text);
        Assert.Matches(@"sidecar_static_responses_total\{mount=""static"",encoding=""identity"",status=""404""\} [1-9]", text);
        Assert.Matches(@"sidecar_static_compression_saved_bytes_total\{mount=""static"",encoding=""br""\} [1-9]", text);
    }

    private static async Task<string> Scrape()
    {
        using var stream = new MemoryStream();
        await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(stream);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private sealed record ValidatorSet(string ETag, string BrotliETag, string LastModified, DateTimeOffset Date);

    private static async Task<ValidatorSet> Validators(HttpClient client, string url)
    {
        using var identity = await client.SendAsync(Get(url, ("Accept-Encoding", "identity")));
        using var br = await client.SendAsync(Get(url, ("Accept-Encoding", "br")));
        var lastModified = Header(identity, "Last-Modified");
        return new ValidatorSet(Header(identity, "ETag"), Header(br, "ETag"), lastModified, DateTimeOffset.Parse(lastModified));
    }

    private static string Fill(string template, ValidatorSet v) => template
        .Replace("{etag-br}", v.BrotliETag)
        .Replace("{etag}", v.ETag)
        .Replace("{lm}", v.LastModified)
        .Replace("{before}", v.Date.AddHours(-1).ToString("R"))
        .Replace("{after}", v.Date.AddSeconds(30).ToString("R"));
}
