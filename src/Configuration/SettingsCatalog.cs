using System.Net;
using System.Text;

namespace Sidecar.Configuration;

/// <summary>One setting: its file key, the environment variable derived from it, its default and how to apply a value.</summary>
public sealed record SettingDefinition(string Key, string Default, string Help, Action<SidecarSettings, string> Apply)
{
    /// <summary><c>MaxBodySize</c> becomes <c>SIDECAR_MAX_BODY_SIZE</c>: one rule, so names never drift apart.</summary>
    public string EnvironmentVariable { get; } = "SIDECAR_" + ToUpperSnake(Key);

    private static string ToUpperSnake(string key)
    {
        var sb = new StringBuilder(key.Length + 8);
        for (var i = 0; i < key.Length; i++)
        {
            if (i > 0 && char.IsUpper(key[i]) && !char.IsUpper(key[i - 1]))
            {
                sb.Append('_');
            }

            sb.Append(char.ToUpperInvariant(key[i]));
        }

        return sb.ToString();
    }
}

/// <summary>
/// The table of every setting. The README's settings reference, the JSON schema and the loader all read
/// this table, so adding a setting here is the only step needed to make it configurable everywhere.
/// </summary>
public static class SettingsCatalog
{
    public static IReadOnlyList<SettingDefinition> All { get; } =
    [
        new("Port", "8080", "Port for application traffic (all interfaces).", (s, v) => s.Port = Units.ParsePort(v)),
        new("AdminPort", "9901", "Port for /healthz/* and /metrics (all interfaces). Never serves application traffic.", (s, v) => s.AdminPort = Units.ParsePort(v)),
        new("Upstream", "http://127.0.0.1:8000", "Where the default route sends requests: http://host:port of gunicorn, or unix:/path of its socket (gunicorn --bind unix:/path on a shared emptyDir).", (s, v) => (s.Upstream, s.UpstreamSocket) = ParseUpstream(v)),
        new("UpstreamTimeout", "60s", "Longest the upstream may stay silent (waiting for headers or between body reads) before the client gets 504. Above gunicorn's 30 s worker timeout so gunicorn's own timeout fires first.", (s, v) => s.UpstreamTimeout = Positive(Units.ParseDuration(v))),
        new("UpstreamConnectTimeout", "5s", "Longest a TCP connect to the upstream may take before the client gets 502.", (s, v) => s.UpstreamConnectTimeout = Positive(Units.ParseDuration(v))),
        new("UpstreamConcurrency", "0", "Most requests forwarded to a cluster at once; the rest wait in the sidecar's FIFO queue, each only after its body is fully buffered. Set it to gunicorn's worker count, e.g. from the same WEB_CONCURRENCY env var the app container reads. 0 = off. A cluster's Metadata Sidecar.MaxConcurrency overrides it.", (s, v) => s.UpstreamConcurrency = Units.ParseCount(v)),
        new("QueueTimeout", "10s", "Longest a request waits in the queue for an upstream slot before it gets 503 with Retry-After, never forwarded. Well below gunicorn's 30 s worker timeout: 10 s of queueing means the Pod is far past capacity, and a quick 503 lets the client or ingress try another Pod while queue wait plus app time still fit the 30-60 s deadlines of common load balancers.", (s, v) => s.QueueTimeout = Positive(Units.ParseDuration(v))),
        new("QueueLength", "100", "Most requests waiting per cluster; one more gets 503 with Retry-After at once. 0 = no queue (503 whenever every slot is busy). Unlike HAProxy's maxqueue, 0 never means unlimited: every waiting request holds a client connection and its buffered body.", (s, v) => s.QueueLength = Units.ParseCount(v)),
        new("QueueReadiness", "off", "Report not ready on /healthz/ready while a cluster's queue is saturated (full, or its oldest request has waited half of QueueTimeout), so the Service sends new traffic to other Pods.", (s, v) => s.QueueReadiness = Units.ParseBool(v)),
        new("RequestStartHeader", "on", "Add X-Request-Start: t=<microseconds since the epoch> (when the sidecar received the request) to forwarded requests, so APM agents (New Relic, Scout, Datadog) report time spent queueing. One sent by a peer in TrustedNetworks (an ingress that stamped it earlier) is kept.", (s, v) => s.RequestStartHeader = Units.ParseBool(v)),
        new("MaxBodySize", "10m", "Largest request body accepted (nginx client_max_body_size); 0 = unlimited. Larger bodies get 413 before anything reaches the upstream.", (s, v) => s.MaxBodySize = Units.ParseSize(v)),
        new("TempDir", "", "Directory for spooled request and response bodies. Empty = the system temp directory ($TMPDIR or /tmp).", (s, v) => s.TempDir = v.Trim()),
        new("RequestBuffering", "on", "Read the whole request body before contacting the upstream (nginx proxy_request_buffering).", (s, v) => s.RequestBuffering = Units.ParseBool(v)),
        new("RequestBufferMemory", "64k", "Request body bytes held in memory before spilling to a temp file.", (s, v) => s.RequestBufferMemory = Units.ParseSize(v)),
        new("ResponseBuffering", "on", "Read the upstream response as fast as the upstream sends it, then deliver it at the client's pace (nginx proxy_buffering).", (s, v) => s.ResponseBuffering = Units.ParseBool(v)),
        new("ResponseBufferMemory", "64k", "Response body bytes held in memory ahead of the client; only what a slow client leaves behind past this goes to a temp file, so a client that keeps up costs no disk. Once a client is found slow, what it left in memory moves to the temp file too.", (s, v) => s.ResponseBufferMemory = Units.ParseSize(v)),
        new("ResponseBufferMaxFile", "1g", "Most bytes of one response spooled to disk (nginx proxy_max_temp_file_size); past it the rest of the response is read from the upstream only as fast as the client reads. 0 = no temp file: once ResponseBufferMemory is full the rest streams at the client's pace.", (s, v) => s.ResponseBufferMaxFile = Units.ParseSize(v)),
        new("SpoolQuota", "2g", "Most disk space all temp files together may use; a request that would exceed it gets 507 and nothing partial reaches the upstream. 0 = limited only by the disk.", (s, v) => s.SpoolQuota = Units.ParseSize(v)),
        new("HeaderTimeout", "30s", "Longest a client may take to send the request line and headers (408); nginx client_header_timeout is 60s.", (s, v) => s.HeaderTimeout = Positive(Units.ParseDuration(v))),
        new("BodyIdleTimeout", "60s", "Longest a client may send nothing in the middle of a request body (408, nginx client_body_timeout); the rate check alone let a client that sent 3 MB and stopped hold its spool space for hours.", (s, v) => s.BodyIdleTimeout = Positive(Units.ParseDuration(v))),
        new("KeepAliveTimeout", "75s", "How long an idle client connection is kept open (nginx keepalive_timeout). Keep it above the load balancer's idle timeout.", (s, v) => s.KeepAliveTimeout = Positive(Units.ParseDuration(v))),
        new("MinRequestBodyRate", "240", "Slowest request body upload tolerated, in bytes per second after the grace period; slower clients are disconnected (408). 0 = off.", (s, v) => s.MinRequestBodyRate = Units.ParseSize(v)),
        new("MinResponseRate", "240", "Slowest response download tolerated, in bytes per second after the grace period; slower clients are disconnected. 0 = off.", (s, v) => s.MinResponseRate = Units.ParseSize(v)),
        new("RateGracePeriod", "5s", "Time a client gets before MinRequestBodyRate and MinResponseRate apply; more than 1s.", (s, v) => s.RateGracePeriod = MoreThanOneSecond(Units.ParseDuration(v))),
        new("MaxHeaderSize", "32k", "Largest total size of request headers (431).", (s, v) => s.MaxHeaderSize = Units.ParseSize(v)),
        new("MaxHeaderCount", "100", "Most request header fields (431); gunicorn's limit_request_fields is 100.", (s, v) => s.MaxHeaderCount = Units.ParseCount(v)),
        new("MaxRequestLine", "8k", "Longest request line (414).", (s, v) => s.MaxRequestLine = Units.ParseSize(v)),
        new("TrustedNetworks", "127.0.0.0/8,::1/128", "Comma-separated CIDRs of peers (an ingress, a load balancer) whose X-Forwarded-For/-Proto/-Host are kept. From anyone else they are overwritten. Add your ingress's network to let Django see https.", (s, v) => s.TrustedNetworks = ParseNetworks(v)),
        new("RequestIdHeader", "X-Request-ID", "Header carrying the request id: kept when the client sends a sane one, generated otherwise, passed upstream, returned and logged.", (s, v) => s.RequestIdHeader = NonEmpty(v)),
        new("ErrorPages", "", "Directory of HTML pages for the answers the sidecar gives itself (nginx error_page), named by status: 502.html, 503.html, 504.html, 413.html. A client that accepts text/html gets the page with the same status; API clients and curl keep the one-line plain-text message. Read when used, so a changed page shows at once. Empty = off.", (s, v) => s.ErrorPages = v.Trim()),
        new("AccessLog", "on", "One JSON line per request on stdout.", (s, v) => s.AccessLog = Units.ParseBool(v)),
        new("ConfigPollInterval", "2s", "How often the config file is re-read and compared with the config in force (hot reload). 0 = off: the file is read at start and on SIGHUP only.", (s, v) => s.ConfigPollInterval = Units.ParseDuration(v)),
        new("DrainTimeout", "30s", "After SIGTERM, how long in-flight requests (including responses still being delivered to slow clients) may take before the process exits.", (s, v) => s.DrainTimeout = Units.ParseDuration(v)),
        new("ShutdownDelay", "0s", "After SIGTERM, keep accepting new requests this long (readiness already false) so load balancers can stop sending. Useful when the sidecar runs as a plain container; native sidecars are stopped after the app and need none.", (s, v) => s.ShutdownDelay = Units.ParseDuration(v)),
        // Static files (src/StaticFiles): parsed here so the config file, the environment and the README agree.
        new("StaticRoot", "", "Directory served at StaticUrl (Django's STATIC_ROOT after collectstatic). Empty = static serving off.", (s, v) => s.StaticRoot = v.Trim()),
        new("StaticUrl", "/static/", "URL prefix of StaticRoot; must start and end with '/'.", (s, v) => s.StaticUrl = StaticFiles.StaticMountOptions.ParseUrl(v)),
        new("StaticCacheControl", "public, max-age=60", "Cache-Control for static files whose name carries no verified content hash.", (s, v) => s.StaticCacheControl = NonEmpty(v)),
        new("StaticImmutableCacheControl", "public, max-age=31536000, immutable", "Cache-Control for hashed files (listed in staticfiles.json or named with Django's 12-hex hash, verified against the content).", (s, v) => s.StaticImmutableCacheControl = NonEmpty(v)),
        new("StaticAllowOrigin", "*", "Access-Control-Allow-Origin on static responses (fonts loaded from a CDN host need it). Empty = not sent.", (s, v) => s.StaticAllowOrigin = v.Trim()),
        new("StaticFallThrough", "off", "A miss under StaticUrl goes on to the app instead of a local 404.", (s, v) => s.StaticFallThrough = Units.ParseBool(v)),
        new("StaticServeManifest", "off", "Serve Django's staticfiles.json like any other file.", (s, v) => s.StaticServeManifest = Units.ParseBool(v)),
        new("StaticRootFiles", "", "Directory whose files are served at / (favicon.ico, robots.txt; WhiteNoise's WHITENOISE_ROOT). A miss always goes on to the app. Empty = off.", (s, v) => s.StaticRootFiles = v.Trim()),
        new("StaticMounts", "", "More mounts, as a JSON array of objects (Url, Root, and optionally Name, CacheControl, ImmutableCacheControl, AllowOrigin, FallThrough, Internal, Watch, WatchInterval). See the README.", (s, v) => s.StaticMounts = StaticFiles.StaticMountOptions.ParseList(v)),
        new("StaticCompress", "on", "Compress files that have no .br/.gz sibling at start-up, in the background, into StaticCompressDir.", (s, v) => s.StaticCompress = Units.ParseBool(v)),
        new("StaticCompressDir", "", "Where start-up compression writes its variants (an emptyDir). Empty = sidecar-static under the system temp directory.", (s, v) => s.StaticCompressDir = v.Trim()),
        new("StaticAccessLog", "on", "Write access log lines for requests a static mount answered (nginx's access_log off in a static location, when off). Metrics count them either way.", (s, v) => s.StaticAccessLog = Units.ParseBool(v)),
        new("StaticMemory", "64m", "Most bytes of small static files (and their variants) kept in memory; larger files are read from disk per request.", (s, v) => s.StaticMemory = Units.ParseSize(v)),
        new("DynamicCompression", "on", "Compress text responses from the app (HTML, JSON, JS, CSS, XML, SVG) when the app did not. See the BREACH note in the README.", (s, v) => s.DynamicCompression = Units.ParseBool(v)),
        new("DynamicCompressionMinSize", "1k", "Smallest app response (by Content-Length) that DynamicCompression compresses; responses of unknown length are compressed.", (s, v) => s.DynamicCompressionMinSize = Units.ParseSize(v)),
    ];

    /// <summary>
    /// SIDECAR_* variables that name no setting. A typo (SIDECAR_MAX_BODYSIZE) left the default in force without a
    /// word, while the same typo in the file is an error. Not an error here: the environment is shared with other
    /// tools. Kubernetes' service links for a Service named "sidecar" (SIDECAR_SERVICE_HOST, SIDECAR_PORT_8080_TCP)
    /// are passed over.
    /// </summary>
    public static IEnumerable<string> UnknownVariables(IEnumerable<string> names)
    {
        var known = All.Select(d => d.EnvironmentVariable).Append(ConfigLoader.ConfigVariable).ToList();
        foreach (var name in names.Where(n => n.StartsWith("SIDECAR_", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            if (!known.Contains(name) && !name.StartsWith("SIDECAR_SERVICE_", StringComparison.Ordinal) && !name.StartsWith("SIDECAR_PORT_", StringComparison.Ordinal))
            {
                yield return $"{name}: not a setting, so it is ignored{Spelling.Suggest(name, known)}";
            }
        }
    }

    public static SettingDefinition? Find(string key) =>
        All.FirstOrDefault(d => string.Equals(d.Key, key, StringComparison.OrdinalIgnoreCase));

    private static TimeSpan Positive(TimeSpan value) =>
        value > TimeSpan.Zero ? value : throw new FormatException("must be greater than zero");

    // Kestrel measures data rates on its one-second heartbeat and refuses a shorter grace period; at start-up that was an
    // unhandled exception instead of a config error.
    private static TimeSpan MoreThanOneSecond(TimeSpan value) =>
        value > TimeSpan.FromSeconds(1) ? value : throw new FormatException("must be more than 1s (Kestrel checks data rates once a second)");

    private static string NonEmpty(string value) =>
        value.Trim().Length > 0 ? value.Trim() : throw new FormatException("must not be empty");

    private static (Uri Address, string? Socket) ParseUpstream(string value)
    {
        var text = value.Trim();
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            // gunicorn's and nginx's spelling. The HTTP requests still need an authority; the client's Host is forwarded anyway.
            var path = text["unix:".Length..];
            return Path.IsPathFullyQualified(path)
                ? (new Uri("http://localhost/"), path)
                : throw new FormatException($"'{value}' names no absolute socket path; expected unix:/path/to/gunicorn.sock");
        }

        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0)
        {
            return (uri, null);
        }

        throw new FormatException($"'{value}' is not an upstream address; expected http://host:port (e.g. http://127.0.0.1:8000) or unix:/path/to/gunicorn.sock");
    }

    private static IReadOnlyList<IPNetwork> ParseNetworks(string value)
    {
        var networks = new List<IPNetwork>();
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (IPNetwork.TryParse(part, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(part, out var address))
            {
                networks.Add(new IPNetwork(address, address.GetAddressBytes().Length * 8));
            }
            else
            {
                throw new FormatException($"'{part}' is not a network; expected CIDR notation such as 10.0.0.0/8 or an address");
            }
        }

        return networks;
    }
}
