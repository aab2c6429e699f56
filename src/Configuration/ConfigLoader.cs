using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Sidecar.Configuration;

/// <summary>
/// Builds a <see cref="SidecarConfig"/> from defaults, the JSON config file and environment variables
/// (environment wins over file, file over default). Every problem is collected before failing so a user
/// fixes them all in one round.
/// </summary>
public static class ConfigLoader
{
    public const string DefaultPath = "/etc/sidecar/sidecar.json";
    public const string ConfigVariable = "SIDECAR_CONFIG";

    private static readonly JsonDocumentOptions JsonOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>The config file path to use and whether the user named it (a named file must exist).</summary>
    public static (string Path, bool Explicit) ResolvePath(Func<string, string?> environment)
    {
        var named = environment(ConfigVariable);
        return string.IsNullOrWhiteSpace(named) ? (DefaultPath, false) : (named, true);
    }

    public static SidecarConfig Load(Func<string, string?> environment)
    {
        var (path, isExplicit) = ResolvePath(environment);
        byte[]? content = null;
        if (File.Exists(path))
        {
            content = ReadFile(path);
        }
        else if (isExplicit)
        {
            throw new ConfigException(path, [$"config file not found ({ConfigVariable}={path})"]);
        }

        return Parse(content, content is null ? null : path, environment);
    }

    public static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException(path, [$"cannot read config file: {e.Message}"]);
        }
    }

    /// <summary>Parses file content (null = no file) plus environment overrides; throws <see cref="ConfigException"/> listing every problem.</summary>
    public static SidecarConfig Parse(byte[]? content, string? path, Func<string, string?> environment)
    {
        var problems = new List<string>();
        var source = path ?? "environment";
        var fileValues = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        JsonElement? proxySection = null;
        JsonDocument? document = null;

        if (content is not null)
        {
            if (content.All(b => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t'))
            {
                throw new ConfigException(source, ["config file is empty (an empty ConfigMap key or a half-written file); expected a JSON object"]);
            }

            try
            {
                document = JsonDocument.Parse(content, JsonOptions);
            }
            catch (JsonException e)
            {
                throw new ConfigException(source, [$"not valid JSON: {e.Message}"]);
            }

            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ConfigException(source, ["the file must hold a JSON object with the keys Sidecar and/or ReverseProxy"]);
            }

            foreach (var top in document.RootElement.EnumerateObject())
            {
                switch (top.Name)
                {
                    case "$schema":
                        break;
                    case "Sidecar":
                        ReadSidecarSection(top.Value, fileValues, problems);
                        break;
                    case "ReverseProxy":
                        proxySection = top.Value;
                        break;
                    default:
                        problems.Add($"unknown top-level key '{top.Name}' (expected Sidecar, ReverseProxy)");
                        break;
                }
            }
        }

        var settings = new SidecarSettings();
        foreach (var definition in SettingsCatalog.All)
        {
            var (value, origin) = environment(definition.EnvironmentVariable) is { } env
                ? (env, definition.EnvironmentVariable)
                : fileValues.TryGetValue(definition.Key, out var fromFile)
                    ? (fromFile, "Sidecar." + definition.Key)
                    : (definition.Default, "default of " + definition.Key);
            try
            {
                definition.Apply(settings, value);
            }
            catch (FormatException e)
            {
                problems.Add($"{origin}: {e.Message}");
            }
        }

        if (problems.Count == 0 && settings.Port == settings.AdminPort)
        {
            problems.Add($"Port and AdminPort are both {settings.Port}; application traffic and admin endpoints need separate ports");
        }

        var (routes, clusters) = problems.Count == 0
            ? ProxyConfigReader.Read(proxySection, settings, problems)
            : ([], []);
        document?.Dispose();

        if (problems.Count > 0)
        {
            throw new ConfigException(source, problems);
        }

        return new SidecarConfig(settings, routes, clusters, Hash(content, environment), path);
    }

    private static void ReadSidecarSection(JsonElement section, Dictionary<string, string> values, List<string> problems)
    {
        if (section.ValueKind != JsonValueKind.Object)
        {
            problems.Add("Sidecar: must be an object of settings");
            return;
        }

        foreach (var property in section.EnumerateObject())
        {
            var definition = SettingsCatalog.Find(property.Name);
            if (definition is null)
            {
                problems.Add($"Sidecar.{property.Name}: unknown setting{Suggest(property.Name)}");
                continue;
            }

            values[definition.Key] = property.Value.ValueKind switch
            {
                JsonValueKind.String => property.Value.GetString()!,
                JsonValueKind.Array when property.Value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String) =>
                    string.Join(',', property.Value.EnumerateArray().Select(e => e.GetString())),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => property.Value.GetRawText(),
            };
        }
    }

    /// <summary>Names the closest known key for a misspelling, the way a user would want to be told.</summary>
    private static string Suggest(string key)
    {
        var best = SettingsCatalog.All
            .Select(d => (d.Key, Distance: EditDistance(key.ToLowerInvariant(), d.Key.ToLowerInvariant())))
            .MinBy(x => x.Distance);
        return best.Distance <= Math.Max(2, key.Length / 3) ? $"; did you mean '{best.Key}'?" : "";
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    /// <summary>A short hash of everything that shaped the config, exposed so operators can tell which config is live.</summary>
    private static string Hash(byte[]? content, Func<string, string?> environment)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (content is not null) sha.AppendData(content);
        foreach (var definition in SettingsCatalog.All)
        {
            if (environment(definition.EnvironmentVariable) is { } value)
            {
                sha.AppendData(Encoding.UTF8.GetBytes($"\n{definition.EnvironmentVariable}={value}"));
            }
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset())[..12];
    }
}
