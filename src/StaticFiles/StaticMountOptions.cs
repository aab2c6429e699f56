using System.Text.Json;
using System.Text.Json.Serialization;
using Sidecar.Configuration;

namespace Sidecar.StaticFiles;

/// <summary>
/// One extra mount from the <c>StaticMounts</c> setting (a JSON array in the config file or the environment).
/// Unset optional fields inherit the global static settings when the catalog is built.
/// </summary>
public sealed record StaticMountOptions
{
    /// <summary>Label in logs and metrics; defaults to the URL without slashes ("/media/" -> "media").</summary>
    public string? Name { get; init; }

    public string Url { get; init; } = "";

    public string Root { get; init; } = "";

    public string? CacheControl { get; init; }

    public string? ImmutableCacheControl { get; init; }

    public string? AllowOrigin { get; init; }

    public bool? FallThrough { get; init; }

    /// <summary>Only reachable through an upstream's X-Accel-Redirect, never by a client's URL (nginx's <c>internal</c>).</summary>
    public bool Internal { get; init; }

    /// <summary>Rescan the directory and swap the catalog when its contents change (a volume updated by a job).</summary>
    public bool Watch { get; init; }

    /// <summary>How often a watched mount is rescanned, e.g. "5s".</summary>
    public string? WatchInterval { get; init; }

    [JsonIgnore]
    public TimeSpan WatchPeriod { get; private init; } = TimeSpan.FromSeconds(5);

    /// <summary>A URL prefix: absolute path, ending in '/', no dot segments or encoded characters.</summary>
    public static string ParseUrl(string value)
    {
        var url = value.Trim();
        if (url.Length == 0 || url[0] != '/' || url[^1] != '/')
        {
            throw new FormatException($"'{value}' is not a URL prefix; expected a path that starts and ends with '/', e.g. /static/");
        }

        foreach (var segment in url.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment is "." or ".." || segment.AsSpan().IndexOfAny("%\\?#") >= 0)
            {
                throw new FormatException($"'{value}' is not a URL prefix; segments may not be '.', '..' or contain %, \\, ? or #");
            }
        }

        return url;
    }

    /// <summary>Parses the StaticMounts value; every problem names the entry and field so the user can find it.</summary>
    public static IReadOnlyList<StaticMountOptions> ParseList(string value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return [];
        }

        List<StaticMountOptions>? mounts;
        try
        {
            mounts = JsonSerializer.Deserialize(value, StaticMountsJsonContext.Default.ListStaticMountOptions);
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 1 } path ? $" at {path}" : "";
            throw new FormatException($"not a JSON array of mounts{where}: {e.Message.Split(" Path:")[0]} Expected e.g. [{{\"Url\": \"/media/\", \"Root\": \"/data/media\"}}]");
        }

        if (mounts is null)
        {
            return [];
        }

        var result = new List<StaticMountOptions>(mounts.Count);
        for (var i = 0; i < mounts.Count; i++)
        {
            var mount = mounts[i];
            if (mount is null)
            {
                throw new FormatException($"[{i}] is null; expected an object with Url and Root");
            }

            string url;
            try
            {
                url = ParseUrl(mount.Url);
            }
            catch (FormatException e)
            {
                throw new FormatException($"[{i}].Url: {e.Message}");
            }

            if (string.IsNullOrWhiteSpace(mount.Root))
            {
                throw new FormatException($"[{i}].Root: missing; expected the directory to serve at {url}");
            }

            var period = TimeSpan.FromSeconds(5);
            if (mount.WatchInterval is { } interval)
            {
                try
                {
                    period = Units.ParseDuration(interval);
                }
                catch (FormatException e)
                {
                    throw new FormatException($"[{i}].WatchInterval: {e.Message}");
                }

                if (period < TimeSpan.FromMilliseconds(100))
                {
                    throw new FormatException($"[{i}].WatchInterval: '{interval}' is too short; use at least 100ms");
                }
            }

            var name = string.IsNullOrWhiteSpace(mount.Name) ? NameFor(url) : mount.Name.Trim();
            if (result.Any(m => m.Url == url))
            {
                throw new FormatException($"[{i}].Url: {url} is already mounted by an earlier entry");
            }

            result.Add(mount with { Url = url, Root = mount.Root.Trim(), Name = name, WatchPeriod = period });
        }

        return result;
    }

    public static string NameFor(string url) => url.Trim('/') is { Length: > 0 } trimmed ? trimmed.Replace('/', '_') : "root";
}

[JsonSourceGenerationOptions(
    PropertyNameCaseInsensitive = true,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(List<StaticMountOptions>))]
internal sealed partial class StaticMountsJsonContext : JsonSerializerContext;
