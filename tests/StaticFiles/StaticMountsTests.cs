using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Sidecar.StaticFiles;
using Sidecar.Configuration;
using Sidecar.Tests.Infrastructure;
using static Sidecar.Tests.StaticFiles.StaticHttp;

namespace Sidecar.Tests.StaticFiles;

/// <summary>Mounts beyond STATIC_ROOT: configuration errors, root files, fall-through, watching, and trees that try to trick the scanner.</summary>
public sealed class StaticMountsTests : IDisposable
{
    private static readonly Uri ClosedUpstream = new("http://127.0.0.1:1");
    private readonly string _directory = Directory.CreateTempSubdirectory("sidecar-mounts-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("{\"Url\": \"/media/\"}", "Sidecar.StaticMounts: not a JSON array")]
    [InlineData("[{\"Url\": \"/media/\"}]", "Sidecar.StaticMounts: [0].Root: missing")]
    [InlineData("[{\"Url\": \"media\", \"Root\": \"/x\"}]", "Sidecar.StaticMounts: [0].Url: 'media' is not a URL prefix")]
    [InlineData("[{\"Url\": \"/a/../b/\", \"Root\": \"/x\"}]", "Sidecar.StaticMounts: [0].Url:")]
    [InlineData("[{\"Url\": \"/a/\", \"Root\": \"/x\", \"Wacth\": true}]", "Sidecar.StaticMounts: not a JSON array of mounts at $[0].Wacth")]
    [InlineData("[{\"Url\": \"/a/\", \"Root\": \"/x\", \"Watch\": \"yes\"}]", "Sidecar.StaticMounts: not a JSON array of mounts at $[0].Watch")]
    [InlineData("[{\"Url\": \"/a/\", \"Root\": \"/x\", \"WatchInterval\": \"soon\"}]", "Sidecar.StaticMounts: [0].WatchInterval: 'soon' is not a duration")]
    [InlineData("[{\"Url\": \"/a/\", \"Root\": \"/x\"}, {\"Url\": \"/a/\", \"Root\": \"/y\"}]", "Sidecar.StaticMounts: [1].Url: /a/ is already mounted")]
    public void BadMountsAreConfigErrorsNamingTheKeyAndEntry(string mounts, string expected)
    {
        var file = Encoding.UTF8.GetBytes("{\"Sidecar\": {\"StaticMounts\": " + mounts + "}}");
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(file, "/etc/sidecar/sidecar.json", _ => null));
        Assert.Contains(error.Problems, p => p.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void MountsFromTheEnvironmentAreTheSameJson()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(null, null, name => name == "SIDECAR_STATIC_MOUNTS" ? "[{\"Url\": \"/m/\"" : null));
        Assert.Contains(error.Problems, p => p.StartsWith("SIDECAR_STATIC_MOUNTS: not a JSON array", StringComparison.Ordinal));
        var config = ConfigLoader.Parse(null, null, name => name == "SIDECAR_STATIC_MOUNTS" ? "[{\"url\": \"/m/\", \"root\": \"/srv/m\", \"watch\": true, \"watchInterval\": \"2s\"}]" : null);
        var mount = Assert.Single(config.Settings.StaticMounts);
        Assert.Equal(("m", "/m/", "/srv/m", true, TimeSpan.FromSeconds(2)), (mount.Name, mount.Url, mount.Root, mount.Watch, mount.WatchPeriod));
    }

    [Fact]
    public void BadStaticUrlIsAConfigError()
    {
        var error = Assert.Throws<ConfigException>(() => ConfigLoader.Parse(null, null, name => name == "SIDECAR_STATIC_URL" ? "/static" : null));
        Assert.Contains(error.Problems, p => p.StartsWith("SIDECAR_STATIC_URL: '/static' is not a URL prefix", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RootFilesAreServedAtSlashAndEverythingElseGoesToTheApp()
    {
        var root = Write("public/robots.txt", "User-agent: *\nDisallow:\n");
        Write("public/favicon.ico", new string('\u0001', 300));
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT_FILES"] = Path.GetDirectoryName(root)! });
        using var client = sidecar.Client();
        using var robots = await client.SendAsync(Get("/robots.txt"));
        Assert.Equal(HttpStatusCode.OK, robots.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", Header(robots, "Content-Type"));
        Assert.Equal("public, max-age=60", Header(robots, "Cache-Control"));
        using var icon = await client.SendAsync(Get("/favicon.ico"));
        Assert.Equal("image/x-icon", Header(icon, "Content-Type"));
        // The upstream is a closed port, so 502 proves the request went on to the app.
        using var other = await client.SendAsync(Get("/robots.txt.bak"));
        Assert.Equal(HttpStatusCode.BadGateway, other.StatusCode);
    }

    [Fact]
    public async Task FallThroughSendsMissesToTheApp()
    {
        var file = Write("static/app.css", "body {}");
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_ROOT"] = Path.GetDirectoryName(file)!,
            ["SIDECAR_STATIC_FALL_THROUGH"] = "on",
            ["SIDECAR_STATIC_COMPRESS"] = "off",
        });
        using var client = sidecar.Client();
        using var hit = await client.SendAsync(Get("/static/app.css"));
        Assert.Equal(HttpStatusCode.OK, hit.StatusCode);
        using var miss = await client.SendAsync(Get("/static/missing.css"));
        Assert.Equal(HttpStatusCode.BadGateway, miss.StatusCode);
    }

    [Fact]
    public async Task AManifestHashThatDoesNotMatchTheContentIsNotCachedForever()
    {
        var good = "body { color: red; }\n";
        var goodHash = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(good)))[..12];
        var root = Path.GetDirectoryName(Write("s/staticfiles.json",
            $$"""{"paths": {"a.css": "a.{{goodHash}}.css", "b.css": "b.0123456789ab.css"}, "version": "1.0"}"""))!;
        Write($"s/a.{goodHash}.css", good);
        Write("s/b.0123456789ab.css", "body { color: blue; }\n");
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = root, ["SIDECAR_STATIC_COMPRESS"] = "off" });
        using var client = sidecar.Client();
        using var verified = await client.SendAsync(Get($"/static/a.{goodHash}.css"));
        Assert.Equal("public, max-age=31536000, immutable", Header(verified, "Cache-Control"));
        using var forged = await client.SendAsync(Get("/static/b.0123456789ab.css"));
        Assert.Equal(HttpStatusCode.OK, forged.StatusCode);
        Assert.Equal("public, max-age=60", Header(forged, "Cache-Control"));
    }

    [Fact]
    public async Task AWatchedMountPicksUpNewChangedAndRemovedFiles()
    {
        var first = Write("media/first.txt", "one");
        var root = Path.GetDirectoryName(first)!;
        var mounts = $$"""[{"Url": "/media/", "Root": "{{root}}", "Watch": true, "WatchInterval": "200ms", "CacheControl": "public, max-age=300"}]""";
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_MOUNTS"] = mounts,
            ["SIDECAR_STATIC_COMPRESS_DIR"] = Path.Combine(_directory, "cache"),
        });
        using var client = sidecar.Client();
        using (var response = await client.SendAsync(Get("/media/first.txt")))
        {
            Assert.Equal("one", await response.Content.ReadAsStringAsync());
            Assert.Equal("public, max-age=300", Header(response, "Cache-Control"));
        }

        Write("media/second.txt", "two");
        Assert.Equal("two", await EventuallyAsync(client, "/media/second.txt", body => body == "two"));
        File.WriteAllText(first, "uno, changed");
        Assert.Equal("uno, changed", await EventuallyAsync(client, "/media/first.txt", body => body == "uno, changed"));
        File.Delete(first);
        Assert.Equal("Not Found\n", await EventuallyAsync(client, "/media/first.txt", body => body == "Not Found\n"));
    }

    /// <summary>
    /// Memory goes to the files clients ask for: start-up hashes every file and keeps none of them, a GET reads the
    /// encoding it sends into memory once, a HEAD reads nothing, and a rebuilt catalog gives the memory back.
    /// </summary>
    [Fact]
    public async Task BodiesAreHeldInMemoryOnlyOnceAskedForAndGivenBackWhenReplaced()
    {
        var css = string.Concat(Enumerable.Repeat("body { margin: 0; }\n", 100));
        var app = Write("lazy/app.css", css);
        var root = Path.GetDirectoryName(app)!;
        Write("lazy/unasked.css", css + "/* never requested */");
        var mounts = $$"""[{"Url": "/media/", "Root": "{{root}}", "Watch": true, "WatchInterval": "200ms"}]""";
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_MOUNTS"] = mounts,
            ["SIDECAR_STATIC_COMPRESS"] = "off",
        });
        using var client = sidecar.Client();
        using (await client.SendAsync(Get("/media/unknown.css")))
        {
        }

        var service = sidecar.Services.GetRequiredService<StaticFileService>();
        Assert.Equal(0, service.MemoryInUse);

        using (var head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/media/app.css")))
        {
            Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        }

        Assert.Equal(0, service.MemoryInUse);
        for (var i = 0; i < 3; i++)
        {
            using var response = await client.SendAsync(Get("/media/app.css"));
            Assert.Equal(css, await response.Content.ReadAsStringAsync());
            Assert.Equal(css.Length, service.MemoryInUse);
        }

        File.WriteAllText(Path.Combine(root, "new.txt"), "rescan");
        Assert.Equal("rescan", await EventuallyAsync(client, "/media/new.txt", body => body == "rescan"));
        Assert.Equal("rescan".Length, service.MemoryInUse);
    }

    /// <summary>
    /// Loads racing rescans: requests read bodies in while a watched mount is rescanned over and over, each rescan
    /// retiring the variants it replaces. Afterwards the budget must hold exactly the bodies the live catalog has in
    /// memory; a load that finished on a retired variant and kept its charge would leave the budget short for good.
    /// </summary>
    [Fact]
    public async Task TheMemoryBudgetStaysExactWhileRescansRaceRequests()
    {
        var root = Path.Combine(_directory, "racing");
        var names = Enumerable.Range(0, 16).Select(i => $"file{i}.txt").ToArray();
        foreach (var name in names)
        {
            Write(Path.Combine("racing", name), new string('x', 1000) + name);
        }

        var mounts = $$"""[{"Url": "/media/", "Root": "{{root}}", "Watch": true, "WatchInterval": "200ms"}]""";
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_MOUNTS"] = mounts,
            ["SIDECAR_STATIC_COMPRESS"] = "off",
        });
        using var client = sidecar.Client();
        var service = sidecar.Services.GetRequiredService<StaticFileService>();
        var settings = sidecar.Services.GetRequiredService<ConfigHolder>();

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
        var rescans = Task.Run(async () =>
        {
            for (var round = 0; !stop.IsCancellationRequested; round++)
            {
                Write("racing/changing.txt", $"round {round}");
                await Task.Delay(150);
            }
        });
        var served = 0;
        await Parallel.ForAsync(0, 8, async (worker, _) =>
        {
            while (!stop.IsCancellationRequested)
            {
                var name = names[Random.Shared.Next(names.Length)];
                using var response = await client.SendAsync(Get("/media/" + name));
                Assert.Equal(new string('x', 1000) + name, await response.Content.ReadAsStringAsync());
                Interlocked.Increment(ref served);
            }
        });
        await rescans;

        // Once the last rescan has been swapped in, nothing moves: the budget is what the live catalog holds.
        await Task.Delay(1000);
        var held = service.Current(settings.Settings).Mounts.SelectMany(m => m.Assets.Values).SelectMany(a => a.Variants()).Sum(v => v.Bytes?.LongLength ?? 0);
        Assert.True(served > 100, $"only {served} requests were served");
        Assert.Equal(held, service.MemoryInUse);
    }

    [Fact]
    public void AFileRewrittenSinceTheScanIsNeverHeldInMemory()
    {
        var path = Write("rewritten/app.css", "original");
        var mount = new StaticMount("rewritten", "/static/", Path.GetDirectoryName(path)!, "public, max-age=60", "public, max-age=31536000, immutable", "*",
            FallThrough: false, Internal: false, Watch: false, TimeSpan.Zero, ServeManifest: false, IsRootFiles: false);
        var budget = new MemoryBudget(1 << 20);
        var identity = new CatalogBuilder(budget, fillIn: false, NullLogger.Instance).Build(mount).Find("app.css")!.Identity;

        File.WriteAllText(path, "replaced"); // the same length: only the hash tells
        Assert.Null(identity.BodyInMemory());
        Assert.Equal(0, budget.Used);
    }

    [Fact]
    public async Task SymlinkLoopsAndEscapesDoNotTrapTheScanner()
    {
        var file = Write("tree/a/file.txt", "inside");
        var root = Path.Combine(_directory, "tree");
        Directory.CreateSymbolicLink(Path.Combine(root, "a", "loop"), Path.Combine(root, "a"));
        Directory.CreateSymbolicLink(Path.Combine(root, "self"), root);
        Directory.CreateSymbolicLink(Path.Combine(root, "etc"), "/etc");
        File.CreateSymbolicLink(Path.Combine(root, "passwd"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), Path.Combine(root, "nowhere"));
        File.CreateSymbolicLink(Path.Combine(root, "relative.txt"), "a/file.txt");
        File.CreateSymbolicLink(Path.Combine(root, "ping"), Path.Combine(root, "pong"));
        File.CreateSymbolicLink(Path.Combine(root, "pong"), Path.Combine(root, "ping"));
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = root, ["SIDECAR_STATIC_COMPRESS"] = "off" });
        using var client = sidecar.Client();
        foreach (var path in new[] { "/static/a/file.txt", "/static/relative.txt" })
        {
            using var response = await client.SendAsync(Get(path));
            Assert.Equal("inside", await response.Content.ReadAsStringAsync());
        }

        foreach (var path in new[] { "/static/etc/passwd", "/static/passwd", "/static/dangling", "/static/self/a/file.txt", "/static/a/loop/file.txt", "/static/ping" })
        {
            using var response = await client.SendAsync(Get(path));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        Assert.True(File.Exists(file));
    }

    [Fact]
    public async Task BrokenSiblingsAndUndecodableNamesAreSkippedWithoutStoppingStartUp()
    {
        var css = Write("broken/s.css", string.Concat(Enumerable.Repeat("body { color: red; }\n", 50)));
        var root = Path.GetDirectoryName(css)!;
        File.WriteAllBytes(css + ".br", RandomNumberGenerator.GetBytes(54)); // Brotli reports this as InvalidOperationException
        File.WriteAllBytes(css + ".gz", RandomNumberGenerator.GetBytes(54));
        // A name that is not UTF-8 can only be made below .NET, which reads it back with U+FFFD in it.
        await using (var python = new ExternalProcess("python3", ["-c", "import sys; open(sys.argv[1].encode() + b'/lat\\xe9n.css', 'wb').write(b'x')", root]))
        {
            Assert.True(await python.WaitForExitAsync(TimeSpan.FromSeconds(10)) && python.ExitCode == 0, python.Output);
        }

        try
        {
            using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = root, ["SIDECAR_STATIC_COMPRESS"] = "off" });
            using var client = sidecar.Client();
            using var response = await client.SendAsync(Get("/static/s.css", ("Accept-Encoding", "br, gzip")));

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("", Header(response, "Content-Encoding"));
            Assert.Equal(await File.ReadAllTextAsync(css), await response.Content.ReadAsStringAsync());
        }
        finally
        {
            // .NET cannot name the file to delete it either.
            await using var rm = new ExternalProcess("python3", ["-c", "import sys, os; os.remove(sys.argv[1].encode() + b'/lat\\xe9n.css')", root]);
            await rm.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [Fact]
    public async Task ASiblingLargerThanItsOriginalIsNotServed()
    {
        var tiny = Write("tiny/a.txt", "hi");
        using (var gz = new System.IO.Compression.GZipStream(File.Create(tiny + ".gz"), System.IO.Compression.CompressionLevel.Optimal))
        {
            gz.Write("hi"u8);
        }

        Assert.True(new FileInfo(tiny + ".gz").Length > 2);
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = Path.GetDirectoryName(tiny)!, ["SIDECAR_STATIC_COMPRESS"] = "off" });
        using var client = sidecar.Client();
        using var response = await client.SendAsync(Get("/static/a.txt", ("Accept-Encoding", "gzip")));

        Assert.Equal("", Header(response, "Content-Encoding"));
        Assert.Equal("hi", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ALinkToADirectoryDoesNotHideTheDirectory()
    {
        var file = Write("linked/realdir/r.txt", "real");
        var root = Path.Combine(_directory, "linked");
        // Several links, so whatever order the file system lists them in, some come before the directory itself.
        for (var i = 0; i < 8; i++)
        {
            Directory.CreateSymbolicLink(Path.Combine(root, $"alias{i}"), Path.GetDirectoryName(file)!);
        }

        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = root, ["SIDECAR_STATIC_COMPRESS"] = "off" });
        using var client = sidecar.Client();
        foreach (var path in new[] { "/static/realdir/r.txt", "/static/alias0/r.txt", "/static/alias7/r.txt" })
        {
            using var response = await client.SendAsync(Get(path));
            Assert.Equal("real", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task AFileDeletedOrChangedAfterStartIsNotServedUnderItsOldHeaders()
    {
        var gone = Write("unwatched/gone.css", "soon deleted");
        var root = Path.GetDirectoryName(gone)!;
        var changed = Write("unwatched/changed.css", "original");
        var large = Write("unwatched/large.js", new string('x', 1 << 20)); // over 256 KiB: read from disk per request
        using var sidecar = new SidecarFactory(ClosedUpstream, new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = root, ["SIDECAR_STATIC_COMPRESS"] = "off" });
        using var client = sidecar.Client();

        File.Delete(gone);
        File.WriteAllText(changed, "replaced"); // the same length: only the hash tells
        File.WriteAllText(large, "short now");

        using (var response = await client.SendAsync(Get("/static/gone.css")))
        {
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("", Header(response, "ETag"));
        }

        foreach (var path in new[] { "/static/changed.css", "/static/large.js" })
        {
            using var response = await client.SendAsync(Get(path));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Contains("changed on disk", await response.Content.ReadAsStringAsync());
            Assert.Equal("no-store", Header(response, "Cache-Control"));
            Assert.Equal("", Header(response, "ETag"));
        }
    }

    [Fact]
    public async Task AConfigReloadRebuildsTheCatalogWithoutARestart()
    {
        var before = Path.GetDirectoryName(Write("v1/app.css", "version one"))!;
        var after = Path.GetDirectoryName(Write("v2/app.css", "version two"))!;
        var environment = new Dictionary<string, string> { ["SIDECAR_STATIC_ROOT"] = before, ["SIDECAR_STATIC_COMPRESS"] = "off" };
        using var sidecar = new SidecarFactory(ClosedUpstream, environment);
        using var client = sidecar.Client();
        using (var response = await client.SendAsync(Get("/static/app.css")))
        {
            Assert.Equal("version one", await response.Content.ReadAsStringAsync());
        }

        var holder = sidecar.Services.GetRequiredService<ConfigHolder>();
        var reloaded = ConfigLoader.Parse(null, null, name => name switch
        {
            "SIDECAR_PORT" => sidecar.Port.ToString(),
            "SIDECAR_ADMIN_PORT" => sidecar.AdminPort.ToString(),
            "SIDECAR_STATIC_ROOT" => after,
            "SIDECAR_STATIC_URL" => "/assets/",
            "SIDECAR_STATIC_COMPRESS" => "off",
            _ => null,
        });
        holder.Replace(reloaded);
        Assert.Equal("version two", await EventuallyAsync(client, "/assets/app.css", body => body == "version two"));
        using var old = await client.SendAsync(Get("/static/app.css"));
        Assert.Equal(HttpStatusCode.BadGateway, old.StatusCode);
    }

    [Fact]
    public void VaryIsPromisedWhileStartUpCompressionIsPendingAndDroppedWhenItDoesNotPay()
    {
        var root = Path.GetDirectoryName(Write("pending/app.css", string.Concat(Enumerable.Repeat("body { margin: 0; }\n", 200))))!;
        Write("pending/tiny.txt", "hi");
        File.WriteAllBytes(Path.Combine(root, "font.woff2"), RandomNumberGenerator.GetBytes(2000));
        var mount = new StaticMount("pending", "/static/", root, "public, max-age=60", "public, max-age=31536000, immutable", "*",
            FallThrough: false, Internal: false, Watch: false, TimeSpan.Zero, ServeManifest: false, IsRootFiles: false);
        var budget = new MemoryBudget(1 << 20);
        var catalog = new CatalogBuilder(budget, fillIn: true, NullLogger.Instance).Build(mount);
        Assert.True(catalog.Find("app.css")!.Varies);
        Assert.True(catalog.Find("tiny.txt")!.Varies);
        Assert.False(catalog.Find("font.woff2")!.Varies);

        var filled = new FillInCompressor(budget, NullLogger.Instance).Fill(catalog, Path.Combine(_directory, "cache"), CancellationToken.None);
        Assert.True(filled.Find("app.css")! is { HasVariants: true, Varies: true });
        Assert.True(filled.Find("tiny.txt")! is { HasVariants: false, Varies: false });

        var withoutFillIn = new CatalogBuilder(new MemoryBudget(1 << 20), fillIn: false, NullLogger.Instance).Build(mount);
        Assert.False(withoutFillIn.Find("app.css")!.Varies);
    }

    private static async Task<string> EventuallyAsync(HttpClient client, string path, Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        string body;
        do
        {
            using var response = await client.SendAsync(Get(path));
            body = await response.Content.ReadAsStringAsync();
            if (done(body))
            {
                return body;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);

        return body;
    }

    private string Write(string relative, string text)
    {
        var path = Path.Combine(_directory, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }
}
