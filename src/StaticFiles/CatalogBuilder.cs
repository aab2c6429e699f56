using System.Buffers;
using System.Collections.Frozen;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Sidecar.StaticFiles;

/// <summary>
/// Scans a mount's directory once and builds its catalog: which files exist (never outside the root, no
/// dotfiles), their precompressed siblings (checked to decode to the original), content-based ETags, and
/// which names are Django-hashed and therefore cacheable forever.
/// </summary>
public sealed class CatalogBuilder(MemoryBudget budget, bool fillIn, ILogger logger)
{
    private const int MaxLinkDepth = 40;

    public MountCatalog Build(StaticMount mount)
    {
        var files = Enumerate(mount.Root);
        var manifest = mount.IsRootFiles ? [] : DjangoManifest.ReadHashedNames(mount.Root, logger);
        var assets = new Dictionary<string, StaticAsset>(StringComparer.Ordinal);
        var immutable = 0;
        foreach (var (relative, file) in files)
        {
            if (IsSibling(relative, files) || (!mount.ServeManifest && relative == DjangoManifest.FileName))
            {
                continue;
            }

            try
            {
                var asset = BuildAsset(mount, relative, file, files, manifest);
                assets[relative] = asset;
                immutable += asset.Immutable ? 1 : 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning("Static files: skipping {Path}: {Error}", file.FullName, e.Message);
            }
        }

        logger.LogInformation("Static files: mount {Mount} ({Url} <- {Root}): {Count} files, {Immutable} hashed (cached forever), {Variants} with compressed variants",
            mount.Name, mount.Url, mount.Root, assets.Count, immutable, assets.Values.Count(a => a.HasVariants));
        return new MountCatalog(mount, assets.ToFrozenDictionary(StringComparer.Ordinal), Fingerprint(files));
    }

    /// <summary>Names, sizes and times of the tree, without reading contents: what the watcher compares.</summary>
    public string Scan(string root) => Fingerprint(Enumerate(root));

    private static string Fingerprint(SortedDictionary<string, FileInfo> files)
    {
        var hash = new XxHash128();
        foreach (var (relative, file) in files)
        {
            hash.Append(Encoding.UTF8.GetBytes($"{relative}\0{file.Length}\0{file.LastWriteTimeUtc.Ticks}\n"));
        }

        return ContentDigest.Hex(hash.GetCurrentHash());
    }

    /// <summary><c>x.css.br</c> next to <c>x.css</c> is a representation of it, not a URL of its own.</summary>
    private static bool IsSibling(string relative, SortedDictionary<string, FileInfo> files) =>
        (relative.EndsWith(".br", StringComparison.Ordinal) || relative.EndsWith(".gz", StringComparison.Ordinal))
        && files.ContainsKey(relative[..^3]);

    private StaticAsset BuildAsset(StaticMount mount, string relative, FileInfo file, SortedDictionary<string, FileInfo> files, HashSet<string> manifest)
    {
        var name = relative[(relative.LastIndexOf('/') + 1)..];
        var djangoHash = mount.IsRootFiles ? null : DjangoManifest.HashSegment(name);
        var (length, hash, md5) = Digest(file, wantMd5: djangoHash is not null);

        var verified = djangoHash is not null && md5!.StartsWith(djangoHash, StringComparison.Ordinal);
        if (manifest.Contains(relative) && !verified)
        {
            logger.LogWarning("Static files: {Path} is listed in {Manifest} but its name's hash {Hash} does not match the MD5 of its content; it gets the short cache policy",
                file.FullName, DjangoManifest.FileName, djangoHash ?? "(none)");
        }

        var identity = new StaticVariant
        {
            Coding = StaticVariant.IdentityCoding,
            PhysicalPath = file.FullName,
            Length = length,
            Hash = hash,
            Budget = budget,
            ETag = ETagFor(hash, ""),
        };

        var modified = file.LastWriteTimeUtc;
        DateTimeOffset? lastModified = modified.Year > 1970
            ? new DateTimeOffset(modified.Ticks - modified.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero)
            : null;
        var brotli = Sibling(files, relative + ".br", StaticVariant.BrotliCoding, hash, length);
        var gzip = Sibling(files, relative + ".gz", StaticVariant.GzipCoding, hash, length);
        var compressible = ContentTypes.IsCompressible(name) && length > 0;
        return new StaticAsset
        {
            RelativePath = relative,
            Identity = identity,
            Brotli = brotli,
            Gzip = gzip,
            Varies = brotli is not null || gzip is not null || (fillIn && compressible && FillInCompressor.WillTry(length)),
            ContentType = ContentTypes.For(name),
            CacheControl = verified ? mount.ImmutableCacheControl : mount.CacheControl,
            LastModifiedDate = lastModified,
            LastModified = lastModified is { } date ? HeaderUtilities.FormatDate(date) : StringValues.Empty,
            Immutable = verified,
            Compressible = compressible,
        };
    }

    /// <summary>
    /// A precompressed sibling, kept only if it decodes to exactly the original (a stale .gz would serve old content)
    /// and is smaller than it (a tiny file's .gz is larger than the file: 20 bytes for an empty one).
    /// </summary>
    private StaticVariant? Sibling(SortedDictionary<string, FileInfo> files, string relative, string coding, byte[] identityHash, long identityLength)
    {
        if (!files.TryGetValue(relative, out var file) || file.Length >= identityLength)
        {
            return null;
        }

        using (var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
        {
            if (!DecodesTo(stream, coding, identityHash))
            {
                logger.LogWarning("Static files: {Path} does not decode to its original; not served", file.FullName);
                return null;
            }
        }

        var (length, hash, _) = Digest(file, wantMd5: false);
        return Variant(coding, file.FullName, length, hash, budget);
    }

    public static StaticVariant Variant(string coding, string path, long length, byte[] hash, MemoryBudget budget) => new()
    {
        Coding = coding,
        PhysicalPath = path,
        Length = length,
        Hash = hash,
        Budget = budget,
        ETag = ETagFor(hash, coding == StaticVariant.BrotliCoding ? "-br" : "-gz"),
        ContentEncoding = coding,
    };

    public static bool DecodesTo(Stream compressed, string coding, byte[] expectedHash)
    {
        try
        {
            using Stream decoder = coding == StaticVariant.BrotliCoding
                ? new BrotliStream(compressed, CompressionMode.Decompress, leaveOpen: true)
                : new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: true);
            return ContentDigest.Of(decoder).AsSpan().SequenceEqual(expectedHash);
        }
        // Brotli reports bytes that are not Brotli as an InvalidOperationException, gzip as InvalidDataException; one
        // random .br sibling took start-up down with it.
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
        {
            return false;
        }
    }

    private static StringValues ETagFor(byte[] hash, string suffix) => new("\"" + ContentDigest.Hex(hash) + suffix + "\"");

    /// <summary>Reads a file once for its digests. Its body is read again only if a client asks for it (<see cref="StaticVariant.BodyInMemory"/>).</summary>
    private static (long Length, byte[] Hash, string? Md5) Digest(FileInfo file, bool wantMd5)
    {
        var digest = new ContentDigest(wantMd5);
        using var stream = new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            long total = 0;
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                digest.Append(buffer.AsSpan(0, read));
                total += read;
            }

            return (total, digest.Hash, digest.Md5Hex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Every regular file under the root, by URL-relative path. Names starting with '.' are skipped at any depth;
    /// symbolic links are followed only when their real target stays inside the root's real path.
    /// </summary>
    private SortedDictionary<string, FileInfo> Enumerate(string root)
    {
        var files = new SortedDictionary<string, FileInfo>(StringComparer.Ordinal);
        if (!Directory.Exists(root))
        {
            logger.LogError("Static files: directory {Root} does not exist; nothing is served from it", root);
            return files;
        }

        string realRoot;
        try
        {
            realRoot = RealPath(Path.GetFullPath(root), 0).TrimEnd('/');
        }
        catch (IOException e)
        {
            logger.LogError("Static files: cannot resolve {Root}: {Error}; nothing is served from it", root, e.Message);
            return files;
        }

        var ancestors = new HashSet<string>(StringComparer.Ordinal) { realRoot };
        Walk(new DirectoryInfo(realRoot), "", realRoot, ancestors, files);
        return files;
    }

    /// <param name="ancestors">The real directories from the root down to this one: a link to one of them would loop.
    /// A link to any other directory is walked under its own name too; a set of every directory seen instead served
    /// whichever of a directory and a link to it came first in the listing, and the other's URLs were 404.</param>
    private void Walk(DirectoryInfo directory, string prefix, string realRoot, HashSet<string> ancestors, SortedDictionary<string, FileInfo> files)
    {
        IEnumerable<FileSystemInfo> entries;
        try
        {
            entries = directory.EnumerateFileSystemInfos().ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Static files: cannot list {Directory}: {Error}", directory.FullName, e.Message);
            return;
        }

        foreach (var entry in entries)
        {
            if (entry.Name.StartsWith('.') || entry.Name.AsSpan().IndexOfAny('\\', '\0') >= 0)
            {
                continue;
            }

            // A name that is not UTF-8 comes back with U+FFFD in it and cannot be opened under that name, nor asked for
            // in a URL: skipped, or the catalog's first look at the file took start-up down.
            if (entry.Name.Contains('\uFFFD'))
            {
                logger.LogWarning("Static files: skipping {Path}: its name is not valid UTF-8", entry.FullName);
                continue;
            }

            var relative = prefix + entry.Name;
            var target = entry;
            if (entry.LinkTarget is not null)
            {
                string real;
                try
                {
                    real = RealPath(entry.FullName, 0);
                }
                catch (IOException e)
                {
                    logger.LogWarning("Static files: not following {Link}: {Error}", entry.FullName, e.Message);
                    continue;
                }

                if (!real.StartsWith(realRoot + "/", StringComparison.Ordinal))
                {
                    logger.LogWarning("Static files: not following {Link}: it points outside {Root} (to {Target})", entry.FullName, realRoot, real);
                    continue;
                }

                target = Directory.Exists(real) ? new DirectoryInfo(real) : new FileInfo(real);
                if (!target.Exists)
                {
                    continue;
                }
            }

            if (target is DirectoryInfo child)
            {
                var real = child.FullName.TrimEnd('/');
                if (ancestors.Add(real))
                {
                    Walk(child, relative + "/", realRoot, ancestors, files);
                    ancestors.Remove(real);
                }
            }
            else if (target is FileInfo file)
            {
                files[relative] = file;
            }
        }
    }

    /// <summary>realpath(3): every symbolic link in the path resolved, so containment checks see the true location.</summary>
    private static string RealPath(string path, int depth)
    {
        if (depth > MaxLinkDepth)
        {
            throw new IOException($"too many levels of symbolic links resolving {path}");
        }

        var current = "/";
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }

            var next = Path.Combine(current, part);
            var info = new FileInfo(next);
            if (info.LinkTarget is { } link)
            {
                next = RealPath(Path.GetFullPath(link, current), depth + 1);
            }

            current = next;
        }

        return current;
    }
}
