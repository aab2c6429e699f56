using Microsoft.Extensions.Primitives;
using Sidecar.Configuration;

namespace Sidecar.StaticFiles;

/// <summary>
/// A directory served at a URL prefix, with every setting resolved (mount options over global settings).
/// A record, so a reload that changes nothing about a mount can be recognised by equality.
/// </summary>
public sealed record StaticMount(
    string Name,
    string Url,
    string Root,
    string CacheControl,
    string ImmutableCacheControl,
    string AllowOrigin,
    bool FallThrough,
    bool Internal,
    bool Watch,
    TimeSpan WatchPeriod,
    bool ServeManifest,
    bool IsRootFiles)
{
    /// <summary>Prebuilt header value; empty = no Access-Control-Allow-Origin.</summary>
    public StringValues AllowOriginHeader { get; } = AllowOrigin.Length > 0 ? new StringValues(AllowOrigin) : StringValues.Empty;

    /// <summary>
    /// The mounts the settings describe: StaticRoot, StaticRootFiles and every StaticMounts entry. A mount at "/"
    /// always lets misses through: answering 404 for them would hide the whole app.
    /// </summary>
    public static IReadOnlyList<StaticMount> FromSettings(SidecarSettings s)
    {
        var mounts = new List<StaticMount>();
        if (s.StaticRoot.Length > 0)
        {
            mounts.Add(new StaticMount(StaticMountOptions.NameFor(s.StaticUrl), s.StaticUrl, s.StaticRoot, s.StaticCacheControl,
                s.StaticImmutableCacheControl, s.StaticAllowOrigin, s.StaticFallThrough || s.StaticUrl == "/", Internal: false, Watch: false,
                TimeSpan.Zero, s.StaticServeManifest, IsRootFiles: false));
        }

        foreach (var m in s.StaticMounts)
        {
            // An internal mount's files are the app's to hand out (X-Accel-Redirect), often by who asks: the global
            // "*" would let any site's scripts read a download whose access rests on the network it came from.
            mounts.Add(new StaticMount(m.Name!, m.Url, m.Root, m.CacheControl ?? s.StaticCacheControl,
                m.ImmutableCacheControl ?? s.StaticImmutableCacheControl, m.AllowOrigin ?? (m.Internal ? "" : s.StaticAllowOrigin),
                m.Url == "/" || (m.FallThrough ?? s.StaticFallThrough), m.Internal, m.Watch, m.WatchPeriod, s.StaticServeManifest, m.Url == "/"));
        }

        if (s.StaticRootFiles.Length > 0)
        {
            mounts.Add(new StaticMount("root", "/", s.StaticRootFiles, s.StaticCacheControl, s.StaticImmutableCacheControl,
                s.StaticAllowOrigin, FallThrough: true, Internal: false, Watch: false, TimeSpan.Zero, ServeManifest: false, IsRootFiles: true));
        }

        return mounts;
    }
}
