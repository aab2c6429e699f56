using System.Collections.Frozen;

namespace Sidecar.StaticFiles;

/// <summary>
/// The media types static files are served with, and which of them are worth compressing. The table is the
/// sidecar's own (never the OS's), so a slim image and a developer laptop answer alike; it fixes nginx's gaps
/// (.mjs, .map, .webmanifest) and adds <c>charset=utf-8</c> to every text type.
/// </summary>
public static class ContentTypes
{
    public const string Fallback = "application/octet-stream";

    private static readonly FrozenDictionary<string, string> ByExtension = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        // Text and code
        [".css"] = "text/css",
        [".js"] = "text/javascript",
        [".mjs"] = "text/javascript",
        [".cjs"] = "text/javascript",
        [".html"] = "text/html",
        [".htm"] = "text/html",
        [".txt"] = "text/plain",
        [".md"] = "text/markdown",
        [".csv"] = "text/csv",
        [".tsv"] = "text/tab-separated-values",
        [".xml"] = "text/xml",
        [".xsl"] = "text/xml",
        [".vtt"] = "text/vtt",
        [".ics"] = "text/calendar",
        [".json"] = "application/json",
        // Source maps are JSON (the Source Map spec); octet-stream makes devtools download them.
        [".map"] = "application/json",
        [".jsonld"] = "application/ld+json",
        [".geojson"] = "application/geo+json",
        [".webmanifest"] = "application/manifest+json",
        [".xhtml"] = "application/xhtml+xml",
        [".rss"] = "application/rss+xml",
        [".atom"] = "application/atom+xml",
        [".wasm"] = "application/wasm",
        [".pdf"] = "application/pdf",
        // Images
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".apng"] = "image/apng",
        [".jpg"] = "image/jpeg",
        [".jpeg"] = "image/jpeg",
        [".gif"] = "image/gif",
        [".webp"] = "image/webp",
        [".avif"] = "image/avif",
        [".jxl"] = "image/jxl",
        [".ico"] = "image/x-icon",
        [".bmp"] = "image/bmp",
        [".tif"] = "image/tiff",
        [".tiff"] = "image/tiff",
        // Fonts
        [".woff"] = "font/woff",
        [".woff2"] = "font/woff2",
        [".ttf"] = "font/ttf",
        [".otf"] = "font/otf",
        [".eot"] = "application/vnd.ms-fontobject",
        // Audio and video
        [".mp3"] = "audio/mpeg",
        [".ogg"] = "audio/ogg",
        [".oga"] = "audio/ogg",
        [".opus"] = "audio/ogg",
        [".wav"] = "audio/wav",
        [".flac"] = "audio/flac",
        [".aac"] = "audio/aac",
        [".m4a"] = "audio/mp4",
        [".mp4"] = "video/mp4",
        [".m4v"] = "video/mp4",
        [".webm"] = "video/webm",
        [".ogv"] = "video/ogg",
        [".mov"] = "video/quicktime",
        // Archives
        [".zip"] = "application/zip",
        [".gz"] = "application/gzip",
        [".tgz"] = "application/gzip",
        [".bz2"] = "application/x-bzip2",
        [".xz"] = "application/x-xz",
        [".zst"] = "application/zstd",
        [".7z"] = "application/x-7z-compressed",
        [".tar"] = "application/x-tar",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whole-name matches, consulted before the extension (files that have no useful extension).</summary>
    private static readonly FrozenDictionary<string, string> ByName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["apple-app-site-association"] = "application/json",
        ["crossdomain.xml"] = "text/x-cross-domain-policy",
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>Formats that are compressed already: a second compression costs CPU and saves nothing.</summary>
    private static readonly FrozenSet<string> Precompressed = new[]
    {
        ".png", ".apng", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".jxl", ".heic",
        ".woff", ".woff2",
        ".zip", ".gz", ".tgz", ".bz2", ".tbz", ".xz", ".zst", ".br", ".7z", ".rar",
        ".mp3", ".ogg", ".oga", ".opus", ".aac", ".m4a", ".flac",
        ".mp4", ".m4v", ".webm", ".ogv", ".mov", ".avi", ".mpeg", ".mpg", ".wmv", ".flv", ".3gp", ".3gpp", ".asf", ".swf",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>The Content-Type value for a file name, with <c>charset=utf-8</c> on text types.</summary>
    public static string For(string fileName)
    {
        if (!ByName.TryGetValue(fileName, out var type) && !ByExtension.TryGetValue(Path.GetExtension(fileName), out type))
        {
            type = Fallback;
        }

        return type.StartsWith("text/", StringComparison.Ordinal) ? type + "; charset=utf-8" : type;
    }

    public static bool IsCompressible(string fileName) => !Precompressed.Contains(Path.GetExtension(fileName));
}
