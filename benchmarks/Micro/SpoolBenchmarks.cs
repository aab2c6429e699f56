using BenchmarkDotNet.Attributes;
using Sidecar.Buffering;
using Sidecar.Configuration;

namespace Sidecar.Micro;

/// <summary>Writing a body into a spool and reading it back, as request and response buffering do.</summary>
[MemoryDiagnoser]
public class SpoolBenchmarks
{
    private const int Chunk = 16 * 1024;
    private readonly byte[] _chunk = new byte[Chunk];
    private readonly byte[] _readBuffer = new byte[Chunk];
    private SpoolStore _store = null!;
    private string _directory = null!;

    /// <summary>Body size; 64 KiB stays in memory (the default RequestBufferMemory), 1 MiB spills to a temp file.</summary>
    [Params(2 * 1024, 64 * 1024, 1024 * 1024)]
    public int BodySize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Directory.CreateTempSubdirectory("sidecar-micro-").FullName;
        _store = new SpoolStore(new ConfigHolder(Fixtures.Config(("SIDECAR_TEMP_DIR", _directory))));
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);

    [Benchmark(Description = "spool write then read (64 KiB memory)")]
    public async Task<long> WriteThenRead()
    {
        using var spool = new Spool(_store, 64 * 1024);
        for (var written = 0; written < BodySize; written += Chunk)
        {
            spool.Append(_chunk.AsSpan(0, Math.Min(Chunk, BodySize - written)));
        }

        spool.Complete();
        long position = 0;
        int read;
        while ((read = await spool.ReadAsync(position, _readBuffer, CancellationToken.None)) > 0)
        {
            position += read;
        }

        return position;
    }
}
