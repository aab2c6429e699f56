using Microsoft.Extensions.Primitives;

namespace Sidecar.StaticFiles;

/// <summary>
/// One encoding of a file as it goes on the wire: its path, length and strong content-based ETag, computed once
/// when the catalog is built, and its body in memory once it has been asked for.
/// </summary>
public sealed class StaticVariant
{
    private readonly StringValues _etag;
    private byte[]? _bytes;
    private int _loading;
    private bool _retired;

    public const string IdentityCoding = "identity";
    public const string BrotliCoding = "br";
    public const string GzipCoding = "gzip";

    public required string Coding { get; init; }

    public required string PhysicalPath { get; init; }

    public required long Length { get; init; }

    /// <summary>XxHash128 of this variant's bytes: the ETag's source, and the check that a body read later is still the same file.</summary>
    public required byte[] Hash { get; init; }

    /// <summary>Charged for the body while it is held in memory.</summary>
    public required MemoryBudget Budget { get; init; }

    /// <summary>The body if it is in memory now; null = read from disk.</summary>
    public byte[]? Bytes => Volatile.Read(ref _bytes);

    /// <summary>
    /// The file on disk is no longer the one the catalog hashed (found when its body was first read). Its catalogued
    /// headers (length, ETag, a year of caching for a hashed name) would describe other bytes, so it is not served.
    /// </summary>
    public bool Changed => Volatile.Read(ref _changed);

    private bool _changed;

    /// <summary>Quoted strong ETag (XxHash128 of its bytes), e.g. <c>"3f2a…"</c> or <c>"91bc…-br"</c>; derived from this variant's bytes, so equal on every replica.</summary>
    public required StringValues ETag
    {
        get => _etag;
        init
        {
            _etag = value;
            Opaque = value.ToString()[1..^1];
        }
    }

    /// <summary>The Content-Encoding header value; empty for identity.</summary>
    public StringValues ContentEncoding { get; init; }

    /// <summary>The opaque tag without quotes, for comparisons.</summary>
    public string Opaque { get; private init; } = "";

    public bool IsIdentity => ReferenceEquals(Coding, IdentityCoding);

    /// <summary>
    /// The body to serve from memory, read on first use when the file is small and the budget allows. Memory goes to
    /// the files clients ask for, not to the whole tree at start-up. Null = serve from disk: too large, no budget left,
    /// being read by another request, or no longer the bytes the catalog hashed (then it is never tried again).
    /// </summary>
    public byte[]? BodyInMemory()
    {
        if (Volatile.Read(ref _bytes) is { } bytes)
        {
            return bytes;
        }

        if (Length > MemoryBudget.MaxFileBytes || Volatile.Read(ref _retired) || Interlocked.CompareExchange(ref _loading, 1, 0) != 0)
        {
            return null;
        }

        if (!Budget.TryReserve(Length))
        {
            Volatile.Write(ref _loading, 0);
            return null;
        }

        try
        {
            bytes = File.ReadAllBytes(PhysicalPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            bytes = null;
        }

        if (bytes is null || bytes.LongLength != Length || !ContentDigest.Of(bytes).AsSpan().SequenceEqual(Hash))
        {
            Budget.Release(Length);
            // _loading stays set, so the file is not read again; a watched mount rebuilds its catalog.
            Volatile.Write(ref _changed, bytes is not null);
            return null;
        }

        Interlocked.Exchange(ref _bytes, bytes); // a full fence, so Retire either sees these bytes or is seen here
        if (Volatile.Read(ref _retired))
        {
            Release();
        }

        return bytes;
    }

    /// <summary>
    /// Called when a new catalog replaces the one holding this variant: the memory goes back to the budget, and no
    /// request still holding the old catalog loads it again.
    /// </summary>
    public void Retire()
    {
        Volatile.Write(ref _retired, true);
        Release();
    }

    // Retire and a load finishing at the same moment may both get here; the exchange lets one of them release.
    private void Release()
    {
        if (Interlocked.Exchange(ref _bytes, null) is { } bytes)
        {
            Budget.Release(bytes.LongLength);
        }
    }
}

/// <summary>A servable file: its representations and the headers every response for it shares, prebuilt.</summary>
public sealed record StaticAsset
{
    public required string RelativePath { get; init; }

    public required StaticVariant Identity { get; init; }

    public StaticVariant? Brotli { get; init; }

    public StaticVariant? Gzip { get; init; }

    public required StringValues ContentType { get; init; }

    public required StringValues CacheControl { get; init; }

    /// <summary>Empty when the file system gave no usable modification time (a 1970 mtime would produce bogus 304s).</summary>
    public StringValues LastModified { get; init; }

    public DateTimeOffset? LastModifiedDate { get; init; }

    public bool Immutable { get; init; }

    public bool Compressible { get; init; }

    public bool HasVariants => Brotli is not null || Gzip is not null;

    /// <summary>
    /// Whether responses carry <c>Vary: Accept-Encoding</c>: when variants exist, and also while start-up compression
    /// may still add them, so no cache stores a Vary-less answer for a file that is about to have variants.
    /// </summary>
    public bool Varies { get; init; }

    public IEnumerable<StaticVariant> Variants()
    {
        yield return Identity;
        if (Brotli is not null) yield return Brotli;
        if (Gzip is not null) yield return Gzip;
    }
}
