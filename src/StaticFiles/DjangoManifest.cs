using System.Text.Json;

namespace Sidecar.StaticFiles;

/// <summary>
/// What Django's ManifestStaticFilesStorage tells about a tree: <c>staticfiles.json</c> maps original names to
/// hashed names, and a hashed name carries the first 12 hex digits of the MD5 of the file's final bytes.
/// </summary>
public static class DjangoManifest
{
    public const string FileName = "staticfiles.json";

    /// <summary>The hashed names (the <c>paths</c> values), or an empty set when there is no readable manifest.</summary>
    public static HashSet<string> ReadHashedNames(string root, ILogger logger)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var path = Path.Combine(root, FileName);
        if (!File.Exists(path))
        {
            return names;
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("paths", out var paths) && paths.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in paths.EnumerateObject())
                {
                    if (entry.Value.GetString() is { } hashed)
                    {
                        names.Add(hashed);
                    }
                }
            }
            else
            {
                logger.LogWarning("Static files: {Path} has no \"paths\" object; hashed files are recognised by name and content only", path);
            }
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            logger.LogWarning("Static files: cannot read {Path} ({Error}); hashed files are recognised by name and content only", path, e.Message);
        }

        return names;
    }

    /// <summary>
    /// The 12-hex hash segment of a Django-hashed name: <c>app.0123456789ab.css</c>, <c>a.tar.0123456789ab.gz</c>,
    /// <c>LICENSE.0123456789ab</c> (extension-less names, which WhiteNoise never recognises). Null when there is none.
    /// </summary>
    public static string? HashSegment(string fileName)
    {
        var last = fileName.LastIndexOf('.');
        if (last <= 0)
        {
            return null;
        }

        var previous = fileName.LastIndexOf('.', last - 1);
        if (previous > 0 && IsHash(fileName.AsSpan(previous + 1, last - previous - 1)))
        {
            return fileName.Substring(previous + 1, 12);
        }

        return IsHash(fileName.AsSpan(last + 1)) ? fileName[(last + 1)..] : null;
    }

    private static bool IsHash(ReadOnlySpan<char> segment)
    {
        if (segment.Length != 12)
        {
            return false;
        }

        foreach (var c in segment)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }
}
