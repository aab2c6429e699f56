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

    public long Dropped => Interlocked.Read(ref _dropped);

    public void Write(Action<Utf8JsonWriter> writeFields)
    {
        var buffer = new ArrayBufferWriter<byte>(384);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            writeFields(json);
            json.WriteEndObject();
        }

        var line = new byte[buffer.WrittenCount + 1];
        buffer.WrittenSpan.CopyTo(line);
        line[^1] = (byte)'\n';
        if (!_lines.Writer.TryWrite(line))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task PumpAsync()
    {
        var reader = _lines.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var line))
            {
                await _output.WriteAsync(line);
            }

            await _output.FlushAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _pump;
    }
}
