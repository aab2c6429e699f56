using System.Buffers;
using System.Diagnostics;
using System.Net;
using Sidecar.Logging;

namespace Sidecar.Buffering;

/// <summary>
/// Replaces an upstream response's content: a pump reads the upstream as fast as it sends into a
/// <see cref="Spool"/>, releasing the gunicorn worker at loopback speed, while the forwarder reads the spool
/// behind it at the client's pace. Past <paramref name="maxOnDisk"/> bytes ahead of the client (or when the
/// spool quota is used up) the pump stops and the rest streams straight through, as nginx does past
/// proxy_max_temp_file_size.
/// </summary>
public sealed class SpooledContent : HttpContent
{
    // Half the default ResponseBufferMemory, so a read fits in memory once the client's writer has caught up.
    private const int CopyBufferSize = 32 * 1024;

    /// <summary>How long the pump waits for the client's writer to free memory before spilling to disk.</summary>
    private static readonly TimeSpan ReaderGrace = TimeSpan.FromMilliseconds(5);

    private readonly HttpContent _upstream;
    private readonly Spool _spool;
    private readonly CancellationTokenSource _cancel = new();
    private readonly Task _pump;
    private readonly RequestRecord? _record;
    private readonly IUpstreamCompletionFeature? _completion;
    private int _released;

    public SpooledContent(HttpContent upstream, SpoolStore store, long memory, long maxOnDisk, TimeSpan idleTimeout, RequestRecord? record, ILogger logger,
        IUpstreamCompletionFeature? completion = null)
    {
        _upstream = upstream;
        _record = record;
        _completion = completion;
        _spool = new Spool(store, memory, forwardOnly: true);
        foreach (var header in upstream.Headers)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        _pump = PumpAsync(maxOnDisk, idleTimeout, logger);
    }

    private async Task PumpAsync(long maxOnDisk, TimeSpan idleTimeout, ILogger logger)
    {
        await Task.Yield();
        var started = Stopwatch.GetTimestamp();
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        var handedOff = false;
        var readerKeepsUp = true;
        Stream? source = null;
        try
        {
            source = await _upstream.ReadAsStreamAsync(_cancel.Token);
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(_cancel.Token);
            while (true)
            {
                idle.CancelAfter(idleTimeout);
                var read = await source.ReadAsync(buffer, idle.Token);
                if (read == 0)
                {
                    break;
                }

                // While data is waiting, upstream reads complete at once, so this loop fills memory before the client's
                // writer has had a turn. A reader that frees room within the grace keeps the body off the disk (nginx
                // writes to the client socket in between); one that does not is slow, and from then on the upstream is
                // drained to disk without waiting, and what was in memory joins it there.
                var fits = readerKeepsUp
                    ? await _spool.WaitForMemoryAsync(read, ReaderGrace, _cancel.Token)
                    : _spool.FitsInMemory(read);
                if (readerKeepsUp && !fits)
                {
                    _spool.SpillToDisk(maxOnDisk);
                    readerKeepsUp = false;
                }

                // Past the disk allowance (or with none), the rest streams at the client's pace.
                var handOff = !fits && _spool.BytesOnDisk + read > maxOnDisk;
                if (!handOff)
                {
                    try
                    {
                        _spool.Append(buffer.AsSpan(0, read));
                    }
                    catch (SpoolFullException e)
                    {
                        logger.LogWarning("Response spool full, streaming the rest of the response at the client's pace: {Reason} [request {RequestId}]", e.Message, _record?.RequestId);
                        handOff = true;
                    }
                }

                if (handOff)
                {
                    // The bytes just read cannot be un-read: they go ahead of the rest of the upstream stream, which the
                    // client's reader now takes over.
                    _spool.CompleteWithRemainder(new PrefixedStream(buffer.AsSpan(0, read).ToArray(), source));
                    handedOff = true;
                    return;
                }
            }

            _spool.Complete();
            _completion?.OnUpstreamCompleted();
        }
        catch (Exception e)
        {
            if (!_cancel.IsCancellationRequested)
            {
                // The idle timer, not the client: said as a timeout, so the failure is counted as upstream_timeout.
                if (e is OperationCanceledException)
                {
                    e = new TimeoutException($"the upstream sent no response body data for {idleTimeout.TotalSeconds:0.###} s");
                }

                logger.LogWarning("Upstream response body failed after {Bytes} bytes: {Error} [request {RequestId}]", _spool.Length, e.Message, _record?.RequestId);
            }

            _spool.Complete(e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            if (_record is not null)
            {
                _record.ResponseBufferTime = Stopwatch.GetElapsedTime(started);
                _record.ResponseSpooledToDisk = _spool.BytesOnDisk > 0;
                // Handed off, the upstream is read until the client has taken the rest (Release): only then is it done.
                if (!handedOff)
                {
                    _record.UpstreamEnd = Stopwatch.GetTimestamp();
                }
            }

            if (!handedOff)
            {
                source?.Dispose();
                _upstream.Dispose();
            }
        }
    }

    public long BufferedLength => _spool.Length;

    protected override Task<Stream> CreateContentReadStreamAsync() => Task.FromResult<Stream>(new SpoolReadStream(_spool, Release));

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        await using var reader = new SpoolReadStream(_spool, Release);
        await reader.CopyToAsync(stream);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    /// <summary>
    /// The client is done (or gone): stop draining the upstream and free the spool once the pump has let go.
    /// Runs when the forwarder disposes the body stream, which it does on every path, unlike the response message.
    /// </summary>
    private void Release()
    {
        if (Interlocked.Exchange(ref _released, 1) != 0)
        {
            return;
        }

        _cancel.Cancel();
        if (_record is { UpstreamEnd: 0 } record)
        {
            record.UpstreamEnd = Stopwatch.GetTimestamp();
        }

        _pump.ContinueWith(_ =>
        {
            _spool.Remainder?.Dispose();
            _upstream.Dispose();
            _spool.Dispose();
            _cancel.Dispose();
        }, TaskScheduler.Default);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Release();
        }

        base.Dispose(disposing);
    }

    private sealed class PrefixedStream(byte[] prefix, Stream rest) : Stream
    {
        private int _offset;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset < prefix.Length)
            {
                var count = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsMemory(_offset, count).CopyTo(buffer);
                _offset += count;
                return count;
            }

            return await rest.ReadAsync(buffer, cancellationToken);
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) rest.Dispose();
            base.Dispose(disposing);
        }
    }
}
