namespace Sidecar.Buffering;

/// <summary>
/// Reads a <see cref="Spool"/> from the start, waiting for its writer when it is behind, then continues
/// in the spool's remainder stream if the spool was capped. Seekable once the spool holds the whole body,
/// which is what a request body handed to the forwarder needs. <paramref name="onDispose"/> lets the spool's
/// owner release it when the reader is done, since YARP disposes the body stream but not the response message.
/// </summary>
public sealed class SpoolReadStream(Spool spool, Action? onDispose = null) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => spool.IsCompleted && spool.Remainder is null;
    public override bool CanWrite => false;
    public override long Length => CanSeek ? spool.Length : throw new NotSupportedException();

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        var read = await spool.ReadAsync(_position, buffer, cancellationToken);
        if (read == 0 && spool.Remainder is { } remainder)
        {
            read = await remainder.ReadAsync(buffer, cancellationToken);
        }

        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin)
    {
        if (!CanSeek)
        {
            throw new NotSupportedException("the spool is still being written");
        }

        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => spool.Length + offset,
        };
        ArgumentOutOfRangeException.ThrowIfNegative(target, nameof(offset));
        _position = target;
        return target;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            onDispose?.Invoke();
        }

        base.Dispose(disposing);
    }

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
