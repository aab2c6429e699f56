namespace Sidecar.Configuration;

/// <summary>
/// Which settings a reload can change while the sidecar runs. Only settings read afresh for every request (through
/// <see cref="ConfigHolder"/>) or carried by the routing (YARP swaps routes and clusters atomically) are live.
/// Everything else was consumed once at start-up (listening sockets, Kestrel limits, the spool directory and quota,
/// the shutdown timings, the upstream HTTP client), so a new value takes effect only after a restart.
/// A setting missing from <see cref="Live"/> is treated as needing a restart: wrongly reporting a restart is
/// harmless, wrongly claiming a change took effect is not.
/// </summary>
public static class ReloadScope
{
    public static IReadOnlySet<string> Live { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "Upstream", "UpstreamTimeout", "MaxBodySize", "BodyIdleTimeout",
        "UpstreamConcurrency", "QueueTimeout", "QueueLength", "QueueReadiness", "RequestStartHeader",
        "RequestBuffering", "RequestBufferMemory", "ResponseBuffering", "ResponseBufferMemory", "ResponseBufferMaxFile",
        "TrustedNetworks", "RequestIdHeader", "ErrorPages", "AccessLog", "ConfigPollInterval",
        "DynamicCompression", "DynamicCompressionMinSize",
        // The static file service rebuilds its catalog in the background when these change, and swaps it in when done.
        "StaticRoot", "StaticUrl", "StaticCacheControl", "StaticImmutableCacheControl", "StaticAllowOrigin", "StaticFallThrough",
        "StaticServeManifest", "StaticRootFiles", "StaticMounts", "StaticCompress", "StaticCompressDir", "StaticMemory", "StaticAccessLog",
    };

    public static bool IsLive(string key) => Live.Contains(key);

    /// <summary>A restart-only setting whose value in a new config differs from the value in force.</summary>
    public sealed record PendingChange(string Key, string Running, string Requested)
    {
        public override string ToString() => $"{Key} {Running} -> {Requested}";
    }

    /// <summary>The restart-only settings <paramref name="next"/> would change, compared with what is running.</summary>
    public static IReadOnlyList<PendingChange> PendingRestart(SidecarConfig running, SidecarConfig next) =>
        SettingsCatalog.All
            .Where(d => !IsLive(d.Key))
            .Select(d => new PendingChange(d.Key, running.Values.GetValueOrDefault(d.Key, d.Default), next.Values.GetValueOrDefault(d.Key, d.Default)))
            .Where(c => !string.Equals(c.Running.Trim(), c.Requested.Trim(), StringComparison.OrdinalIgnoreCase))
            .ToList();

    /// <summary>
    /// Re-parses <paramref name="content"/> with the restart-only settings held at their running values, so the
    /// config put in force says what is really in force. Pinning goes through the environment lookup because the
    /// environment already overrides the file.
    /// </summary>
    public static SidecarConfig KeepRunningValues(
        SidecarConfig next, IReadOnlyList<PendingChange> pending, byte[]? content, Func<string, string?> environment)
    {
        var pinned = pending.ToDictionary(c => SettingsCatalog.Find(c.Key)!.EnvironmentVariable, c => c.Running, StringComparer.Ordinal);
        var config = ConfigLoader.Parse(content, next.SourcePath, key => pinned.TryGetValue(key, out var value) ? value : environment(key));
        // The hash names the file the operator wrote, which is what they compare against.
        return config with { Hash = next.Hash };
    }
}
