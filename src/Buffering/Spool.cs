using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace Sidecar.Buffering;

/// <summary>
/// An append-only body store: bytes in pooled memory while they fit in the memory limit, the rest in an
/// unlinked temp file. One writer appends while one reader follows behind at its own pace (nginx's proxy
/// buffers and temp file), so a response can reach the client while the upstream is still being drained.
/// </summary>
/// <remarks>
/// With <c>forwardOnly</c> (responses) the memory limit counts only bytes the reader has not passed yet:
/// a client that keeps up never sends the body to disk, as nginx only spills when its buffers are full.
/// Without it (request bodies, which the forwarder may rewind) the first bytes stay in memory and the rest
/// go to the file.
/// </remarks>
public sealed class Spool : IDisposable
{
    private const int SegmentSize = 16 * 1024;
    private const int GatherSize = 64 * 1024;

    private readonly SpoolStore _store;
    private long _memoryLimit;
    private readonly bool _forwardOnly;
    private readonly SemaphoreSlim _dataWritten = new(0, 1);
    private readonly SemaphoreSlim _memoryFreed = new(0, 1);

    // Consecutive ranges of the body, in order; guarded by locking the list itself.
    private readonly List<Extent> _extents = [];
    private int _firstLive;
    private long _inMemory;
    private long _fileLength;

    private SafeFileHandle? _file;
    private long _length;
    private volatile bool _completed;
    private Exception? _fault;
    private int _disposed;

    public Spool(SpoolStore store, long memoryLimit, bool forwardOnly = false)
    {
        _store = store;
        // Whole segments: a limit below one segment still buys one.
        _memoryLimit = (memoryLimit + SegmentSize - 1) / SegmentSize * SegmentSize;
        _forwardOnly = forwardOnly;
    }

    /// <summary>Bytes appended so far.</summary>
    public long Length => Interlocked.Read(ref _length);

    /// <summary>Bytes that went to the temp file rather than memory.</summary>
    public long BytesOnDisk => Interlocked.Read(ref _fileLength);

    public bool IsCompleted => _completed;

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the reader to free room for <paramref name="bytes"/> in memory.
    /// False when it did not: the reader is behind, and what comes next goes to disk.
    /// </summary>
    public async ValueTask<bool> WaitForMemoryAsync(int bytes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!FitsInMemory(bytes))
        {
            var left = deadline - Environment.TickCount64;
            if (left <= 0 || !await _memoryFreed.WaitAsync(TimeSpan.FromMilliseconds(left), cancellationToken))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Whether <paramref name="bytes"/> more would stay in memory if appended now.</summary>
    public bool FitsInMemory(int bytes)
    {
        lock (_extents)
        {
            var tailRoom = LiveTail is { Memory: not null } tail ? SegmentSize - tail.Length : 0;
            var segments = (Math.Max(0, bytes - tailRoom) + SegmentSize - 1) / SegmentSize;
            return _inMemory + segments * SegmentSize <= _memoryLimit;
        }
    }

    /// <summary>
    /// Appends a body read from a pipe (Kestrel's request body). Its segments are small, so several are gathered
    /// into one file write.
    /// </summary>
    public void Append(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment)
        {
            Append(data.FirstSpan);
            return;
        }

        var gathered = ArrayPool<byte>.Shared.Rent((int)Math.Min(data.Length, GatherSize));
        try
        {
            var rest = data;
            while (!rest.IsEmpty)
            {
                var count = (int)Math.Min(rest.Length, gathered.Length);
                rest.Slice(0, count).CopyTo(gathered);
                Append(gathered.AsSpan(0, count));
                rest = rest.Slice(count);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(gathered);
        }
    }

    public void Append(ReadOnlySpan<byte> data)
    {
        var position = Length;
        var copied = AppendToMemory(data, position);
        position += copied;
        data = data[copied..];

        if (!data.IsEmpty)
        {
            var fileOffset = WriteToFile(data);
            lock (_extents)
            {
                if (LiveTail is { Memory: null } tail && tail.End == position && tail.FileOffset + tail.Length == fileOffset)
                {
                    tail.Length += data.Length;
                }
                else
                {
                    _extents.Add(new Extent { Start = position, Length = data.Length, FileOffset = fileOffset });
                }
            }

            position += data.Length;
        }

        Interlocked.Exchange(ref _length, position);
        Signal(_dataWritten);
    }

    /// <summary>
    /// Appends <paramref name="data"/> to the temp file within the spool quota and returns where it starts there.
    /// Writer only. Throws <see cref="SpoolFullException"/> when the quota or the disk has no room.
    /// </summary>
    private long WriteToFile(ReadOnlySpan<byte> data)
    {
        if (!_store.TryReserve(data.Length))
        {
            throw new SpoolFullException($"spool quota of {Configuration.Units.FormatSize(_store.Quota)} is used up (SIDECAR_SPOOL_QUOTA)");
        }

        var fileOffset = _fileLength;
        try
        {
            _file ??= _store.CreateFile();
            // Synchronous, as nginx writes its temp files: Linux has no asynchronous file I/O, so the async form
            // only moved each 16 KiB page-cache copy to another pool thread and back (1 MiB uploads: 10-17% more
            // proxy CPU per MiB, two runs of benchmarks/run.sh --only b).
            RandomAccess.Write(_file, data, fileOffset);
            _store.Wrote(data.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not SpoolFullException)
        {
            // UnauthorizedAccessException: the directory refuses this user (EACCES, EPERM); the same "cannot hold it" to the client.
            _store.Release(data.Length);
            throw new SpoolFullException($"cannot write to the spool directory {_store.Directory}: {e.Message}", e);
        }

        Interlocked.Add(ref _fileLength, data.Length);
        return fileOffset;
    }

    /// <summary>Copies as much of <paramref name="data"/> as the memory limit allows into pooled segments.</summary>
    private int AppendToMemory(ReadOnlySpan<byte> data, long position)
    {
        var copied = 0;
        lock (_extents)
        {
            while (copied < data.Length)
            {
                Extent segment;
                if (LiveTail is { Memory: not null } tail && tail.Length < SegmentSize)
                {
                    segment = tail;
                }
                else if (_inMemory + SegmentSize <= _memoryLimit)
                {
                    segment = new Extent { Start = position + copied, Memory = ArrayPool<byte>.Shared.Rent(SegmentSize) };
                    _extents.Add(segment);
                    _inMemory += SegmentSize;
                }
                else
                {
                    break;
                }

                var count = Math.Min(data.Length - copied, SegmentSize - (int)segment.Length);
                data.Slice(copied, count).CopyTo(segment.Memory.AsSpan((int)segment.Length));
                segment.Length += count;
                copied += count;
            }
        }

        return copied;
    }

    /// <summary>
    /// For a reader found to be slow: the bytes waiting in memory move to the temp file and everything appended from
    /// now on goes there too. A slow client would hold that memory for as long as it takes to read what is ahead of it,
    /// and with a few hundred slow clients it was the sidecar's largest cost. Call from the writer only. Bytes the quota
    /// or the disk has no room for, or that would take the file past <paramref name="maxOnDisk"/>, stay in memory.
    /// </summary>
    public void SpillToDisk(long maxOnDisk)
    {
        lock (_extents)
        {
            _memoryLimit = 0;
            for (var i = _firstLive; i < _extents.Count; i++)
            {
                if (_extents[i] is not { Memory: { } memory } extent || _fileLength + extent.Length > maxOnDisk)
                {
                    continue;
                }

                try
                {
                    extent.FileOffset = WriteToFile(memory.AsSpan(0, (int)extent.Length));
                }
                catch (SpoolFullException)
                {
                    // The bytes are still in memory, where the reader finds them. A directory that cannot take this
                    // segment (gone, full, refused, quota used up) cannot take the next one either.
                    break;
                }

                extent.Memory = null;
                ArrayPool<byte>.Shared.Return(memory);
                _inMemory -= SegmentSize;
            }
        }
    }

    /// <summary>No more data will come; <paramref name="fault"/> makes readers fail instead of seeing a clean end.</summary>
    public void Complete(Exception? fault = null)
    {
        _fault = fault;
        _completed = true;
        Signal(_dataWritten);
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
        // Checked even when data is at hand: once Kestrel has cut a client off, writes to it succeed silently,
        // so cancellation (YARP links it to RequestAborted) is the only way the copy learns the client is gone.
        cancellationToken.ThrowIfCancellationRequested();
        while (true)
        {
            var completed = _completed;
            var available = Length - position;
            if (available > 0)
            {
                return ReadAvailable(position, buffer.Span[..(int)Math.Min(buffer.Length, available)]);
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

    /// <summary>Copies from consecutive memory segments in one call; a file range is read on its own.</summary>
    private int ReadAvailable(long position, Span<byte> buffer)
    {
        var copied = 0;
        long fileOffset = -1;
        var fileCount = 0;
        // Memory is copied under the lock: SpillToDisk may hand a segment back to the pool at any time.
        lock (_extents)
        {
            while (copied < buffer.Length)
            {
                var extent = Find(position + copied);
                var offset = position + copied - extent.Start;
                var count = (int)Math.Min(buffer.Length - copied, extent.Length - offset);
                if (extent.Memory is null)
                {
                    if (copied == 0)
                    {
                        (fileOffset, fileCount) = (extent.FileOffset + offset, count);
                    }

                    break;
                }

                extent.Memory.AsSpan((int)offset, count).CopyTo(buffer[copied..]);
                copied += count;
            }
        }

        if (fileOffset >= 0)
        {
            // Synchronous for the same reason as the write in Append; a file range never changes once written.
            copied = RandomAccess.Read(_file!, buffer[..fileCount], fileOffset);
        }

        if (_forwardOnly)
        {
            // Segments this read has passed go back now, not at the next read: the writer may need the room first.
            ReleaseBefore(position + copied);
        }

        return copied;
    }

    /// <summary>The last extent, unless the reader has passed it; the writer extends it when it can. Call under the lock.</summary>
    private Extent? LiveTail => _extents.Count > _firstLive ? _extents[^1] : null;

    /// <summary>The extent holding <paramref name="position"/>.</summary>
    private Extent Find(long position)
    {
        lock (_extents)
        {
            var index = _firstLive;
            while (_extents[index].End <= position)
            {
                index++;
            }

            return _extents[index];
        }
    }

    /// <summary>Returns the memory of segments wholly before <paramref name="position"/>, except a tail the writer is still filling.</summary>
    private void ReleaseBefore(long position)
    {
        lock (_extents)
        {
            while (_firstLive < _extents.Count && _extents[_firstLive] is var passed && passed.End <= position)
            {
                if (passed.Memory is { } memory)
                {
                    if (_firstLive == _extents.Count - 1 && passed.Length < SegmentSize)
                    {
                        return;
                    }

                    ArrayPool<byte>.Shared.Return(memory);
                    passed.Memory = null;
                    _inMemory -= SegmentSize;
                    Signal(_memoryFreed);
                }

                _firstLive++;
            }

            // A long body read as it arrives would otherwise keep one passed extent per segment until the end.
            if (_firstLive >= 1024)
            {
                _extents.RemoveRange(0, _firstLive);
                _firstLive = 0;
            }
        }
    }

    private static void Signal(SemaphoreSlim signal)
    {
        if (signal.CurrentCount == 0)
        {
            try
            {
                signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Another signal won the race; one pending wake-up is all a waiter needs.
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
        _store.Release(BytesOnDisk);
        lock (_extents)
        {
            foreach (var extent in _extents)
            {
                if (extent.Memory is { } memory)
                {
                    ArrayPool<byte>.Shared.Return(memory);
                    extent.Memory = null;
                }
            }
        }
    }

    /// <summary>A range of the body: in a pooled segment, or at <see cref="FileOffset"/> in the temp file.</summary>
    private sealed class Extent
    {
        public long Start { get; init; }
        public long Length { get; set; }
        public byte[]? Memory { get; set; }
        public long FileOffset { get; set; }
        public long End => Start + Length;
    }
}
