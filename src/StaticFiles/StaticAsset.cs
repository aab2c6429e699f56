using Microsoft.Extensions.Primitives;

namespace Sidecar.StaticFiles;

/// <summary>
/// One encoding of a file as it goes on the wire: where its bytes are (memory or disk), its length and its
/// strong content-based ETag, all computed once when the catalog is built.
/// </summary>
public sealed class StaticVariant
{
    private readonly StringValues _etag;

    public const string IdentityCoding = "identity";
    public const string BrotliCoding = "br";
    public const string GzipCoding = "gzip";

    public required string Coding { get; init; }

    public required string PhysicalPath { get; init; }

    public required long Length { get; init; }

    /// <summary>The whole body when the file is small enough to serve from memory; null = read from disk per request.</summary>
    public byte[]? Bytes { get; init; }

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

    /// <summary>Lower-case hex XxHash128 of the identity bytes; names the fill-in compression cache entries.</summary>
    public required string Hash { get; init; }

    public bool Compressible { get; init; }

    public bool HasVariants => Brotli is not null || Gzip is not null;

    /// <summary>
    /// Whether responses carry <c>Vary: Accept-Encoding</c>: when variants exist, and also while start-up compression
    /// may still add them, so no cache stores a Vary-less answer for a file that is about to have variants.
    /// </summary>
    public bool Varies { get; init; }

    /// <summary>Bytes held in memory by this asset's variants, charged against StaticMemory.</summary>
    public long MemoryBytes => (Identity.Bytes?.LongLength ?? 0) + (Brotli?.Bytes?.LongLength ?? 0) + (Gzip?.Bytes?.LongLength ?? 0);
}
