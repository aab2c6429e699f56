using System.Collections.Frozen;
using System.IO.Compression;

namespace Sidecar.StaticFiles;

/// <summary>
/// Gives files without precompressed siblings their Brotli (quality 11) and gzip (best) variants, written once into
/// a cache directory named by content hash, so a restart in the same Pod reuses them. As WhiteNoise does, a variant
/// is kept only if it is at most 95% of the original, and if Brotli does not pay off gzip is not tried.
/// </summary>
public sealed class FillInCompressor(MemoryBudget budget, ILogger logger)
{
    private const int BrotliQuality = 11;
    private const int BrotliWindow = 22;
    private const string SkipMarker = ".skip";

    /// <summary>Larger files (media, archives) are not worth holding in memory to compress.</summary>
    private const long MaxFileBytes = 32L << 20;

    public static bool WillTry(long length) => length <= MaxFileBytes;

    /// <summary>A catalog with every compressible file's variants filled in; the same object when nothing changed.</summary>
    public MountCatalog Fill(MountCatalog catalog, string cacheDirectory, CancellationToken cancellationToken)
    {
        var pending = catalog.Assets.Values.Where(a => a.Compressible && !a.HasVariants && WillTry(a.Identity.Length)).ToList();
        if (pending.Count == 0)
        {
            return catalog;
        }

        try
        {
            Directory.CreateDirectory(cacheDirectory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Static files: cannot create compression cache {Directory} ({Error}); files without .br/.gz siblings are served uncompressed",
                cacheDirectory, e.Message);
            return catalog;
        }

        var assets = new Dictionary<string, StaticAsset>(catalog.Assets, StringComparer.Ordinal);
        var filled = 0;
        var changed = 0;
        long saved = 0;
        foreach (var asset in pending)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var updated = Compress(asset, cacheDirectory);
                if (updated is not null)
                {
                    assets[asset.RelativePath] = updated;
                    changed++;
                }

                if (updated is { HasVariants: true })
                {
                    filled++;
                    saved += asset.Identity.Length - Math.Min(updated.Brotli?.Length ?? long.MaxValue, updated.Gzip?.Length ?? long.MaxValue);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning("Static files: cannot compress {Path}: {Error}", asset.Identity.PhysicalPath, e.Message);
            }
        }

        logger.LogInformation("Static files: mount {Mount}: compressed {Filled} of {Pending} files without siblings into {Directory} ({Saved} bytes smaller in total)",
            catalog.Mount.Name, filled, pending.Count, cacheDirectory, saved);
        return changed == 0 ? catalog : new MountCatalog(catalog.Mount, assets.ToFrozenDictionary(StringComparer.Ordinal), catalog.Fingerprint);
    }

    /// <summary>The asset with its variants, or without Vary when compression does not pay; null if it changed on disk.</summary>
    private StaticAsset? Compress(StaticAsset asset, string directory)
    {
        var baseName = Path.Combine(directory, ContentDigest.Hex(asset.Identity.Hash));
        if (File.Exists(baseName + SkipMarker))
        {
            return asset with { Varies = false };
        }

        var original = asset.Identity.Bytes ?? File.ReadAllBytes(asset.Identity.PhysicalPath);
        if (!ContentDigest.Of(original).AsSpan().SequenceEqual(asset.Identity.Hash))
        {
            return null; // changed since the scan; the watcher (if any) will rebuild it
        }

        var brotli = Variant(baseName + ".br", StaticVariant.BrotliCoding, original, asset.Identity.Hash, BrotliBytes);
        var gzip = brotli is null ? null : Variant(baseName + ".gz", StaticVariant.GzipCoding, original, asset.Identity.Hash, GzipBytes);
        if (brotli is null && gzip is null)
        {
            File.WriteAllBytes(baseName + SkipMarker, []);
        }

        return asset with { Brotli = brotli, Gzip = gzip, Varies = brotli is not null || gzip is not null };
    }

    /// <summary><paramref name="originalHash"/> is the original's hash, checked against its bytes by the caller.</summary>
    private StaticVariant? Variant(string path, string coding, byte[] original, byte[] originalHash, Func<byte[], byte[]> compress)
    {
        byte[] compressed;
        if (File.Exists(path))
        {
            compressed = File.ReadAllBytes(path);
            using var stream = new MemoryStream(compressed);
            if (!CatalogBuilder.DecodesTo(stream, coding, originalHash))
            {
                compressed = Write(path, compress(original));
            }
        }
        else
        {
            compressed = compress(original);
            if (compressed.LongLength * 100 > original.LongLength * 95)
            {
                return null;
            }

            Write(path, compressed);
        }

        return CatalogBuilder.Variant(coding, path, compressed.LongLength, ContentDigest.Of(compressed), budget);
    }

    /// <summary>Written under a temporary name and renamed, so a crash never leaves a truncated variant to be served.</summary>
    private static byte[] Write(string path, byte[] bytes)
    {
        var temporary = path + "." + Environment.ProcessId + ".tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
        return bytes;
    }

    private static byte[] BrotliBytes(byte[] original)
    {
        var output = new byte[BrotliEncoder.GetMaxCompressedLength(original.Length)];
        if (!BrotliEncoder.TryCompress(original, output, out var written, BrotliQuality, BrotliWindow))
        {
            throw new IOException("Brotli compression failed");
        }

        return output.AsSpan(0, written).ToArray();
    }

    private static byte[] GzipBytes(byte[] original)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(original);
        }

        return output.ToArray();
    }
}
