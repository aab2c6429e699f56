using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Sidecar.Buffering;

/// <summary>
/// An append-only body store: the first bytes in pooled memory, the rest in an unlinked temp file.
/// One writer appends while one reader follows behind at its own pace (nginx's proxy temp file semantics),
/// so a response can reach the client while the upstream is still being drained.
/// </summary>
public sealed class Spool : IDisposable
{
    private const int SegmentSize = 16 * 1024;

    private readonly SpoolStore _store;
    private readonly byte[]?[] _segments;
    private readonly long _memoryLimit;
    private readonly SemaphoreSlim _dataWritten = new(0, 1);
    private SafeFileHandle? _file;
    private long _length;
    private long _reservedOnDisk;
    private volatile bool _completed;
    private Exception? _fault;
    private int _disposed;

    public Spool(SpoolStore store, long memoryLimit)
    {
        _store = store;
        var segments = (int)Math.Min(int.MaxValue, (memoryLimit + SegmentSize - 1) / SegmentSize);
        _segments = new byte[]?[segments];
        _memoryLimit = (long)segments * SegmentSize;
    }

    /// <summary>Bytes appended so far.</summary>
    public long Length => Interlocked.Read(ref _length);

    /// <summary>Bytes that went to the temp file rather than memory.</summary>
    public long BytesOnDisk => Math.Max(0, Length - _memoryLimit);

    public bool IsCompleted => _completed;

    public async ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        var position = Length;
        while (!data.IsEmpty && position < _memoryLimit)
        {
            var index = (int)(position / SegmentSize);
            var offset = (int)(position % SegmentSize);
            var segment = _segments[index] ??= ArrayPool<byte>.Shared.Rent(SegmentSize);
            var count = Math.Min(data.Length, SegmentSize - offset);
            data.Span[..count].CopyTo(segment.AsSpan(offset));
            data = data[count..];
            position += count;
        }

        if (!data.IsEmpty)
        {
            if (!_store.TryReserve(data.Length))
            {
                throw new SpoolFullException($"spool quota of {Configuration.Units.FormatSize(_store.Quota)} is used up (SIDECAR_SPOOL_QUOTA)");
            }

            _reservedOnDisk += data.Length;
            try
            {
                _file ??= _store.CreateFile();
                await RandomAccess.WriteAsync(_file, data, position - _memoryLimit, cancellationToken);
            }
            catch (IOException e) when (e is not SpoolFullException)
            {
                throw new SpoolFullException($"cannot write to the spool directory {_store.Directory}: {e.Message}", e);
            }

            position += data.Length;
        }

        Interlocked.Exchange(ref _length, position);
        Signal();
    }

    /// <summary>No more data will come; <paramref name="fault"/> makes readers fail instead of seeing a clean end.</summary>
    public void Complete(Exception? fault = null)
    {
        _fault = fault;
        _completed = true;
        Signal();
    }

    /// <summary>
    /// The spool stops growing but the body goes on in <paramref name="remainder"/>: a reader that reaches the end
    /// of the spooled bytes continues there. This is how a body larger than the spool's cap is streamed.
    /// </summary>
    public void CompleteWithRemainder(Stream remainder)
    {
        Remainder = remainder;
        Complete();
    }

    /// <summary>Where the body continues once the spooled bytes are read, or null when the spool holds all of it.</summary>
    public Stream? Remainder { get; private set; }

    /// <summary>
    /// Reads bytes at <paramref name="position"/>, waiting for the writer if it is behind.
    /// Returns 0 at the end of a completed spool.
    /// </summary>
    public async ValueTask<int> ReadAsync(long position, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (true)
        {
            var completed = _completed;
            var available = Length - position;
            if (available > 0)
            {
                var count = (int)Math.Min(buffer.Length, available);
                return await ReadAvailableAsync(position, buffer[..count], cancellationToken);
            }

            if (completed)
            {
                if (_fault is not null)
                {
                    throw new IOException("the upstream response failed while it was being buffered", _fault);
                }

                return 0;
            }

            await _dataWritten.WaitAsync(cancellationToken);
        }
    }

    private async ValueTask<int> ReadAvailableAsync(long position, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (position < _memoryLimit)
        {
            var index = (int)(position / SegmentSize);
            var offset = (int)(position % SegmentSize);
            var count = Math.Min(buffer.Length, SegmentSize - offset);
            _segments[index].AsSpan(offset, count).CopyTo(buffer.Span);
            return count;
        }

        return await RandomAccess.ReadAsync(_file!, buffer, position - _memoryLimit, cancellationToken);
    }

    private void Signal()
    {
        if (_dataWritten.CurrentCount == 0)
        {
            try
            {
                _dataWritten.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another signal won the race; one pending wake-up is all a reader needs.
            }
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _file?.Dispose();
        _store.Release(_reservedOnDisk);
        for (var i = 0; i < _segments.Length; i++)
        {
            if (_segments[i] is { } segment)
            {
                ArrayPool<byte>.Shared.Return(segment);
                _segments[i] = null;
            }
        }
    }
}
