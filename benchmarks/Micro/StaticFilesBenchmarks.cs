using System.IO.Compression;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Sidecar.Configuration;
using Sidecar.StaticFiles;

namespace Sidecar.Micro;

/// <summary>
/// What a static request pays before the bytes go out: Accept-Encoding negotiation, the catalogue lookup behind a
/// mount's URL, and a whole hit on a small file served from memory (headers included).
/// </summary>
[MemoryDiagnoser]
public class StaticFilesBenchmarks
{
    private const string Hashed = "admin/css/base.5af66c1b1797.css";
    private string _root = null!;
    private StaticFileService _service = null!;
    private StaticFileMiddleware _middleware = null!;
    private StaticAsset _asset = null!;

    [GlobalSetup]
    public void Setup()
    {
        // A collectstatic tree in miniature: one 4 KB stylesheet with its .br and .gz, as CompressedManifestStaticFilesStorage writes them.
        _root = Directory.CreateTempSubdirectory("sidecar-micro-static-").FullName;
        var css = string.Concat(Enumerable.Range(0, 250).Select(i => $".c{i} {{ margin: {i}px; }}\n"))[..4096];
        var path = Path.Combine(_root, Hashed);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, css);
        Compress(path, ".br", s => new BrotliStream(s, CompressionLevel.SmallestSize));
        Compress(path, ".gz", s => new GZipStream(s, CompressionLevel.SmallestSize));

        var config = new ConfigHolder(Fixtures.Config(("SIDECAR_STATIC_ROOT", _root), ("SIDECAR_STATIC_URL", "/static/"),
            ("SIDECAR_STATIC_COMPRESS", "off")));
        _service = new StaticFileService(config, NullLogger<StaticFileService>.Instance);
        _service.Start();
        _middleware = new StaticFileMiddleware(_ => Task.CompletedTask, _service, config);
        _service.Current(config.Settings).MatchPublic("/static/" + Hashed, out var relative);
        _asset = _service.Current(config.Settings).Mounts[0].Find(relative)!;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _service.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Benchmark(Description = "Accept-Encoding: a browser's header")]
    public StaticVariant NegotiateBrowser() => AcceptEncoding.Select("gzip, deflate, br, zstd", _asset);

    [Benchmark(Description = "Accept-Encoding: q-values")]
    public StaticVariant NegotiateQValues() => AcceptEncoding.Select("br;q=0.8, gzip;q=1.0, identity;q=0.5, *;q=0", _asset);

    [Benchmark(Description = "static miss under the mount (lookup, then 404)")]
    public Task Miss() => _middleware.InvokeAsync(Fixtures.Request("/static/admin/css/missing.css"));

    [Benchmark(Description = "static hit, 4 KB from memory, br (headers and body)")]
    public Task Hit()
    {
        var context = Fixtures.Request("/static/" + Hashed);
        context.Request.Headers.AcceptEncoding = "gzip, deflate, br, zstd";
        return _middleware.InvokeAsync(context);
    }

    private static void Compress(string path, string suffix, Func<Stream, Stream> encoder)
    {
        using var output = File.Create(path + suffix);
        using var compressor = encoder(output);
        compressor.Write(File.ReadAllBytes(path));
    }
}
