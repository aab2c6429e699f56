using System.Net;

namespace Sidecar.Configuration;

/// <summary>
/// Every sidecar setting, resolved from defaults, the config file and the environment (in that order of
/// precedence, lowest first). Instances are immutable after loading; a reload builds a new one.
/// Defaults, env names and file keys live in <see cref="SettingsCatalog"/>, the single source for docs and parsing.
/// </summary>
public sealed class SidecarSettings
{
    // Listening
    public int Port { get; set; }
    public int AdminPort { get; set; }

    // Upstream
    public Uri Upstream { get; set; } = null!;

    /// <summary>gunicorn's Unix domain socket when <see cref="Upstream"/> was given as <c>unix:/path</c>; null for TCP.</summary>
    public string? UpstreamSocket { get; set; }
    public TimeSpan UpstreamTimeout { get; set; }
    public TimeSpan UpstreamConnectTimeout { get; set; }

    // Admission control (src/Admission)
    public int UpstreamConcurrency { get; set; }
    public TimeSpan QueueTimeout { get; set; }
    public int QueueLength { get; set; }
    public bool QueueReadiness { get; set; }
    public bool RequestStartHeader { get; set; }

    // Buffering
    public long MaxBodySize { get; set; }
    public string TempDir { get; set; } = "";
    public bool RequestBuffering { get; set; }
    public long RequestBufferMemory { get; set; }
    public bool ResponseBuffering { get; set; }
    public long ResponseBufferMemory { get; set; }
    public long ResponseBufferMaxFile { get; set; }
    public long SpoolQuota { get; set; }

    // Client limits
    public TimeSpan HeaderTimeout { get; set; }
    public TimeSpan BodyIdleTimeout { get; set; }
    public TimeSpan KeepAliveTimeout { get; set; }
    public long MinRequestBodyRate { get; set; }
    public long MinResponseRate { get; set; }
    public TimeSpan RateGracePeriod { get; set; }
    public long MaxHeaderSize { get; set; }
    public int MaxHeaderCount { get; set; }
    public long MaxRequestLine { get; set; }

    // Forwarding
    public IReadOnlyList<IPNetwork> TrustedNetworks { get; set; } = [];
    public string RequestIdHeader { get; set; } = "";
    public string ErrorPages { get; set; } = "";

    // Operations
    public bool AccessLog { get; set; }
    public TimeSpan ConfigPollInterval { get; set; }
    public TimeSpan DrainTimeout { get; set; }
    public TimeSpan ShutdownDelay { get; set; }

    // Static files
    public string StaticRoot { get; set; } = "";
    public string StaticUrl { get; set; } = "/static/";
    public string StaticCacheControl { get; set; } = "";
    public string StaticImmutableCacheControl { get; set; } = "";
    public string StaticAllowOrigin { get; set; } = "";
    public bool StaticFallThrough { get; set; }
    public bool StaticServeManifest { get; set; }
    public string StaticRootFiles { get; set; } = "";
    public IReadOnlyList<StaticFiles.StaticMountOptions> StaticMounts { get; set; } = [];
    public bool StaticCompress { get; set; }
    public string StaticCompressDir { get; set; } = "";
    public long StaticMemory { get; set; }
    public bool StaticAccessLog { get; set; }
    public bool DynamicCompression { get; set; }
    public long DynamicCompressionMinSize { get; set; }

    /// <summary>The resolved spool directory: <see cref="TempDir"/> or the system temp directory.</summary>
    public string SpoolDirectory => TempDir.Length > 0 ? TempDir : Path.GetTempPath();
}
