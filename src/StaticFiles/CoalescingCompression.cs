using System.Buffers;
using System.Diagnostics;
using System.IO.Compression;
using Microsoft.AspNetCore.ResponseCompression;

namespace Sidecar.StaticFiles;

/// <summary>
/// Brotli and gzip for dynamic compression, fed in blocks of up to 64 KiB. A chunked app response reaches the
/// compressor one upstream chunk at a time, often a single line; Brotli at its fastest setting compresses each
/// write on its own, so a 229 KB CSV-like body written a line at a time came out at 289 KB (larger than sent
/// plain) and took 20 times the CPU; gathered into blocks it is 21 KB. A flush (a stream the app asked not
/// to buffer) still passes everything written so far at once, and so does a write a second or more after the last
/// flush: a report trickling out of the app would otherwise send nothing, not even its headers, until
/// 64 KiB had gathered, and an ingress's read timeout could end it first.
/// </summary>
public sealed class CoalescingCompressionProvider(string encodingName, Func<Stream, Stream> createCompressor) : ICompressionProvider
{
    public static CoalescingCompressionProvider Brotli { get; } =
        new("br", output => new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true));

    /// <remarks>
    /// Level 2, not <see cref="CompressionLevel.Fastest"/>: .NET's zlib-ng runs level 1 as a special quick mode with
    /// fixed Huffman codes, 30-65% larger than nginx's gzip level 1 (classic zlib). Level 2 is no larger than nginx's
    /// output, for about 25 µs more per 300 KB page, a small cost next to the app rendering that page.
    /// </remarks>
    public static CoalescingCompressionProvider Gzip { get; } =
        new("gzip", output => new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = 2 }, leaveOpen: true));

    public string EncodingName => encodingName;

    public bool SupportsFlush => true;

    public Stream CreateStream(Stream outputStream) => new CoalescingStream(createCompressor(outputStream));

    private sealed class CoalescingStream(Stream compressor) : Stream
    {
        private const int BlockSize = 64 * 1024;
        private static readonly TimeSpan LongestHold = TimeSpan.FromSeconds(1);
        private byte[]? _block;
        private int _count;
        private long _lastSent = Stopwatch.GetTimestamp();

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position
        {
            get => throw new NotSupportedException();
            set => throw new NotSupportedException();
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_count == 0 && buffer.Length >= BlockSize)
            {
                await compressor.WriteAsync(buffer, cancellationToken);
                return;
            }

            while (!buffer.IsEmpty)
            {
                buffer = buffer[Gather(buffer.Span)..];
                if (_count == BlockSize)
                {
                    await DrainAsync(cancellationToken);
                }
            }

            if (Stopwatch.GetElapsedTime(_lastSent) >= LongestHold)
            {
                await FlushAsync(cancellationToken);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count)
        {
            var data = buffer.AsSpan(offset, count);
            while (!data.IsEmpty)
            {
                data = data[Gather(data)..];
                if (_count == BlockSize)
                {
                    Drain();
                }
            }

            if (Stopwatch.GetElapsedTime(_lastSent) >= LongestHold)
            {
                Flush();
            }
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            await DrainAsync(cancellationToken);
            await compressor.FlushAsync(cancellationToken);
            _lastSent = Stopwatch.GetTimestamp();
        }

        public override void Flush()
        {
            Drain();
            compressor.Flush();
            _lastSent = Stopwatch.GetTimestamp();
        }

        public override async ValueTask DisposeAsync()
        {
            try
            {
                await DrainAsync(CancellationToken.None);
                await compressor.DisposeAsync();
            }
            finally
            {
                ReturnBlock();
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                try
                {
                    Drain();
                    compressor.Dispose();
                }
                finally
                {
                    ReturnBlock();
                }
            }

            base.Dispose(disposing);
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        /// <summary>Copies as much as fits into the block; returns how many bytes were taken.</summary>
        private int Gather(ReadOnlySpan<byte> data)
        {
            _block ??= ArrayPool<byte>.Shared.Rent(BlockSize);
            var taken = Math.Min(data.Length, BlockSize - _count);
            data[..taken].CopyTo(_block.AsSpan(_count));
            _count += taken;
            return taken;
        }

        private async ValueTask DrainAsync(CancellationToken cancellationToken)
        {
            if (_count > 0)
            {
                var count = _count;
                _count = 0;
                await compressor.WriteAsync(_block.AsMemory(0, count), cancellationToken);
            }
        }

        private void Drain()
        {
            if (_count > 0)
            {
                var count = _count;
                _count = 0;
                compressor.Write(_block!, 0, count);
            }
        }

        private void ReturnBlock()
        {
            if (_block is { } block)
            {
                _block = null;
                ArrayPool<byte>.Shared.Return(block);
            }
        }
    }
}
