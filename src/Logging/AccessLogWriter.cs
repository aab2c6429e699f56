using System.Buffers;
using System.Text.Json;
using System.Threading.Channels;

namespace Sidecar.Logging;

/// <summary>
/// Writes access-log lines to stdout from a background task, so a slow log consumer (a full pipe to the
/// container runtime) never stalls request handling. When the queue is full, lines are dropped and counted.
/// </summary>
public sealed class AccessLogWriter : IAsyncDisposable
{
    private readonly Channel<byte[]> _lines = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(16_384)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    private readonly Stream _output;
    private readonly Task _pump;
    private long _dropped;

    public AccessLogWriter() : this(Console.OpenStandardOutput())
    {
    }

    public AccessLogWriter(Stream output)
    {
        _output = output;
        _pump = Task.Run(PumpAsync);
    }

    /// <summary>Longest a line waits for its batch; the queue (16,384 lines) holds far more than one interval's worth.</summary>
    public static readonly TimeSpan BatchInterval = TimeSpan.FromMilliseconds(20);

    public long Dropped => Interlocked.Read(ref _dropped);

    // Lines are formatted on the request's thread; reusing one buffer and writer per thread leaves the line's
    // own bytes as the only allocation.
    [ThreadStatic]
    private static (ArrayBufferWriter<byte> Buffer, Utf8JsonWriter Json)? t_formatter;

    public void Write(Action<Utf8JsonWriter> writeFields)
    {
        var (buffer, json) = t_formatter ??= NewFormatter();
        buffer.ResetWrittenCount();
        json.Reset(buffer);
        json.WriteStartObject();
        writeFields(json);
        json.WriteEndObject();
        json.Flush();

        var line = new byte[buffer.WrittenCount + 1];
        buffer.WrittenSpan.CopyTo(line);
        line[^1] = (byte)'\n';
        if (!_lines.Writer.TryWrite(line))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private static (ArrayBufferWriter<byte>, Utf8JsonWriter) NewFormatter()
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        return (buffer, new Utf8JsonWriter(buffer));
    }

    /// <summary>
    /// One write per batch, and at most one batch per <see cref="BatchInterval"/>: waking up and writing for
    /// every line cost a thread switch and a syscall per request (about a quarter of the proxy's CPU per request).
    /// </summary>
    private async Task PumpAsync()
    {
        var reader = _lines.Reader;
        var batch = new ArrayBufferWriter<byte>(64 * 1024);
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var line))
            {
                batch.Write(line);
                if (batch.WrittenCount >= 60 * 1024)
                {
                    await WriteBatchAsync(batch);
                }
            }

            await WriteBatchAsync(batch);
            await _output.FlushAsync();
            if (!reader.Completion.IsCompleted)
            {
                await Task.Delay(BatchInterval);
            }
        }
    }

    private async Task WriteBatchAsync(ArrayBufferWriter<byte> batch)
    {
        if (batch.WrittenCount > 0)
        {
            await _output.WriteAsync(batch.WrittenMemory);
            batch.ResetWrittenCount();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _pump;
    }
}
