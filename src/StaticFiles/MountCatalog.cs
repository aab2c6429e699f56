using System.Collections.Frozen;

namespace Sidecar.StaticFiles;

/// <summary>An immutable snapshot of one mount: URL-relative path -> asset. Replaced whole, never edited.</summary>
public sealed class MountCatalog
{
    private readonly FrozenDictionary<string, StaticAsset>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public MountCatalog(StaticMount mount, FrozenDictionary<string, StaticAsset> assets, string fingerprint)
    {
        Mount = mount;
        Assets = assets;
        Fingerprint = fingerprint;
        _lookup = assets.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public StaticMount Mount { get; }

    public FrozenDictionary<string, StaticAsset> Assets { get; }

    /// <summary>Cheap summary of names, sizes and times, compared by the watcher to notice changes.</summary>
    public string Fingerprint { get; }

    public StaticAsset? Find(ReadOnlySpan<char> relativePath) => _lookup.TryGetValue(relativePath, out var asset) ? asset : null;
}

/// <summary>Every mount at one moment; requests read it once, watchers and compression swap in a new one.</summary>
public sealed class StaticCatalog(IReadOnlyList<MountCatalog> mounts)
{
    public static readonly StaticCatalog Empty = new([]);

    // Longest prefix first, so /static/admin/ (if mounted) wins over /static/ and "/" comes last.
    private readonly MountCatalog[] _public = mounts.Where(m => !m.Mount.Internal).OrderByDescending(m => m.Mount.Url.Length).ToArray();
    private readonly MountCatalog[] _internal = mounts.Where(m => m.Mount.Internal).OrderByDescending(m => m.Mount.Url.Length).ToArray();

    public IReadOnlyList<MountCatalog> Mounts { get; } = mounts;

    public bool IsEmpty => Mounts.Count == 0;

    /// <summary>The client-reachable mount whose prefix the path starts with, and the rest of the path.</summary>
    public MountCatalog? MatchPublic(string path, out ReadOnlySpan<char> relative) => Match(_public, path, out relative);

    /// <summary>The internal (X-Accel-Redirect only) mount for a redirect target.</summary>
    public MountCatalog? MatchInternal(string path, out ReadOnlySpan<char> relative) => Match(_internal, path, out relative);

    private static MountCatalog? Match(MountCatalog[] mounts, string path, out ReadOnlySpan<char> relative)
    {
        foreach (var mount in mounts)
        {
            if (path.StartsWith(mount.Mount.Url, StringComparison.Ordinal))
            {
                relative = path.AsSpan(mount.Mount.Url.Length);
                return mount;
            }
        }

        relative = default;
        return null;
    }
}
