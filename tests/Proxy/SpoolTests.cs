using System.Security.Cryptography;
using Sidecar.Buffering;
using Sidecar.Configuration;

namespace Sidecar.Tests.Proxy;

/// <summary>
/// The spool on its own: where bytes go (memory or temp file) depending on how far the reader is behind,
/// and that they come back intact across every mix of the two.
/// </summary>
public sealed class SpoolTests : IDisposable
{
    private const int Memory = 64 * 1024;
    private readonly string _directory = Directory.CreateTempSubdirectory("spool-tests-").FullName;
    private readonly SpoolStore _store;

    public SpoolTests()
    {
        var settings = new SidecarSettings { TempDir = _directory };
        _store = new SpoolStore(new ConfigHolder(new SidecarConfig(settings, [], [], "test", null)));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static byte[] Body(int size) => RandomNumberGenerator.GetBytes(size);

    private static async Task<byte[]> ReadAllAsync(Spool spool, long from, int bufferSize, long upTo = long.MaxValue)
    {
        using var output = new MemoryStream();
        var buffer = new byte[bufferSize];
        var position = from;
        int read;
        while (position < upTo && (read = await spool.ReadAsync(position, buffer, CancellationToken.None)) > 0)
        {
            output.Write(buffer, 0, read);
            position += read;
        }

        return output.ToArray();
    }

    [Fact]
    public async Task ForwardOnlySpoolWithAReaderThatKeepsUpNeverTouchesTheDisk()
    {
        var body = Body(1 << 20);
        using var spool = new Spool(_store, Memory, forwardOnly: true);
        using var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        long position = 0;

        for (var offset = 0; offset < body.Length; offset += 20_000)
        {
            spool.Append(body.AsSpan(offset, Math.Min(20_000, body.Length - offset)));
            int read;
            while (position < spool.Length && (read = await spool.ReadAsync(position, buffer, CancellationToken.None)) > 0)
            {
                received.Write(buffer, 0, read);
                position += read;
            }
        }

        spool.Complete();
        Assert.Equal(0, spool.BytesOnDisk);
        Assert.Equal(0, _store.FilesCreated);
        Assert.Equal(body, received.ToArray());
    }

    [Fact]
    public async Task ForwardOnlySpoolSpillsWhatTheReaderIsBehindOnAndReusesMemoryItHasPassed()
    {
        var body = Body(600_000);
        using var spool = new Spool(_store, Memory, forwardOnly: true);
        using var received = new MemoryStream();
        var buffer = new byte[10_000];
        long position = 0;

        // Bursts of 150 KB with a partial read in between: memory, file and memory again, in one body.
        for (var offset = 0; offset < body.Length; offset += 150_000)
        {
            spool.Append(body.AsSpan(offset, 150_000));
            for (var i = 0; i < 12; i++)
            {
                var read = await spool.ReadAsync(position, buffer, CancellationToken.None);
                received.Write(buffer, 0, read);
                position += read;
            }
        }

        spool.Complete();
        received.Write(await ReadAllAsync(spool, position, 7_777));
        Assert.InRange(spool.BytesOnDisk, 1, body.Length - Memory - 1);
        Assert.Equal(body, received.ToArray());
    }

    [Fact]
    public async Task SpillingForASlowReaderMovesMemoryToDiskAndKeepsEveryByteInOrder()
    {
        var body = Body(Memory + 100_000);
        using var spool = new Spool(_store, Memory, forwardOnly: true);
        // The reader takes a little and stops: 64 KB in memory, then 30 KB past the limit on disk.
        spool.Append(body.AsSpan(0, Memory));
        var head = await ReadAllAsync(spool, 0, 1_000, upTo: 5_000);
        spool.Append(body.AsSpan(Memory, 30_000));
        var onDiskBefore = spool.BytesOnDisk;

        spool.SpillToDisk(maxOnDisk: long.MaxValue);

        // All four memory segments (the first one partly read) went to the file after the 30 KB already there,
        // and nothing new stays in memory.
        Assert.Equal(onDiskBefore + Memory, spool.BytesOnDisk);
        Assert.False(spool.FitsInMemory(1));
        var onDiskAfterSpill = spool.BytesOnDisk;
        spool.Append(body.AsSpan(Memory + 30_000));
        spool.Complete();
        Assert.Equal(onDiskAfterSpill + body.Length - Memory - 30_000, spool.BytesOnDisk);
        Assert.Equal(body, head.Concat(await ReadAllAsync(spool, head.Length, 7_777)).ToArray());
    }

    [Fact]
    public async Task SpillingRespectsTheFileCap()
    {
        var body = Body(Memory);
        using var spool = new Spool(_store, Memory, forwardOnly: true);
        spool.Append(body);

        spool.SpillToDisk(maxOnDisk: 0);

        Assert.Equal(0, spool.BytesOnDisk);
        spool.Complete();
        Assert.Equal(body, await ReadAllAsync(spool, 0, 10_000));
    }

    [Fact]
    public async Task SpillingToADirectoryThatCannotHoldAFileKeepsTheBytesInMemory()
    {
        var gone = Path.Combine(_directory, "gone");
        var store = new SpoolStore(new ConfigHolder(new SidecarConfig(new SidecarSettings { TempDir = gone }, [], [], "test", null)));
        var body = Body(Memory);
        using var spool = new Spool(store, Memory, forwardOnly: true);
        spool.Append(body);

        spool.SpillToDisk(maxOnDisk: long.MaxValue);

        Assert.Equal(0, spool.BytesOnDisk);
        Assert.Equal(0, store.BytesOnDisk);
        // sidecar_spool_written_bytes_total: nothing reached a file.
        Assert.Equal(0, store.BytesWritten);
        spool.Complete();
        Assert.Equal(body, await ReadAllAsync(spool, 0, 10_000));
    }

    [Fact]
    public async Task RewindableSpoolKeepsTheFirstBytesInMemoryAndCanBeReadTwice()
    {
        var body = Body(300_000);
        using var spool = new Spool(_store, Memory);
        spool.Append(body.AsSpan(0, 100_000));
        spool.Append(body.AsSpan(100_000));
        spool.Complete();

        Assert.Equal(body.Length - Memory, spool.BytesOnDisk);
        Assert.Equal(body, await ReadAllAsync(spool, 0, 50_000));
        Assert.Equal(body, await ReadAllAsync(spool, 0, 4_096));
    }

    [Fact]
    public async Task WriterWaitingForMemoryResumesWhenTheReaderCatchesUpAndGivesUpWhenItDoesNot()
    {
        var body = Body(Memory + 32 * 1024);
        using var spool = new Spool(_store, Memory, forwardOnly: true);
        spool.Append(body.AsSpan(0, Memory));

        Assert.False(await spool.WaitForMemoryAsync(32 * 1024, TimeSpan.FromMilliseconds(50), CancellationToken.None));

        var waiting = spool.WaitForMemoryAsync(32 * 1024, TimeSpan.FromSeconds(30), CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        var read = await ReadAllAsync(spool, 0, 8 * 1024, upTo: Memory);
        Assert.True(await waiting);

        spool.Append(body.AsSpan(Memory));
        spool.Complete();
        Assert.Equal(0, spool.BytesOnDisk);
        Assert.Equal(body, read.Concat(await ReadAllAsync(spool, Memory, 8 * 1024)).ToArray());
    }

    [Fact]
    public async Task ReadingForAClientThatIsGoneFailsEvenWithDataInMemory()
    {
        using var spool = new Spool(_store, Memory, forwardOnly: true);
        spool.Append(Body(1000));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => spool.ReadAsync(0, new byte[100], new CancellationToken(canceled: true)).AsTask());
    }

    [Fact]
    public async Task DisposingReturnsTheDiskQuota()
    {
        var spool = new Spool(_store, Memory);
        spool.Append(Body(200_000));
        Assert.Equal(200_000 - Memory, _store.BytesOnDisk);

        spool.Dispose();

        Assert.Equal(0, _store.BytesOnDisk);
    }

    /// <summary>
    /// A response nobody reads yet: the pump fills memory first, then, the reader being slow, moves it to disk, where
    /// it counts against the file cap with everything after it. The pump reads 32 KiB at a time: memory takes two
    /// reads, and a 100,000-byte cap holds those and one more. With no file at all, memory stays where it is.
    /// </summary>
    [Theory]
    [InlineData(0, Memory, 0)]
    [InlineData(100_000, 98_304, 98_304)]
    [InlineData(1 << 20, 200_000, 200_000)]
    public async Task TheFileCapBoundsEverythingASlowReadersResponseKeepsOnDisk(int maxOnDisk, int expectedBuffered, int expectedOnDisk)
    {
        var body = Body(200_000);
        using var content = new SpooledContent(new StreamContent(new MemoryStream(body)), _store, Memory, maxOnDisk,
            TimeSpan.FromSeconds(10), record: null, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

        await WaitForAsync(() => content.BufferedLength >= expectedBuffered);
        await Task.Delay(100);

        Assert.Equal(expectedBuffered, content.BufferedLength);
        Assert.Equal(expectedOnDisk, _store.BytesOnDisk);
        // Whatever was not buffered streams from the upstream after it, in order.
        Assert.Equal(body, await content.ReadAsByteArrayAsync());
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25);
        }
    }
}
