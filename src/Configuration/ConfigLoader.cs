using System.IO.Hashing;
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

    private static readonly byte[] Utf8Bom = [0xEF, 0xBB, 0xBF];

    private static readonly JsonDocumentOptions JsonOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        // A key written twice was taken from its last copy without a word, so an edit to the first did nothing.
        AllowDuplicateProperties = false,
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
            throw new ConfigException(path, [Directory.Exists(path)
                ? $"{path} is a directory; {ConfigVariable} names the config file itself (for example /etc/sidecar/sidecar.json)"
                : $"config file not found ({ConfigVariable}={path})"]);
        }

        return Parse(content, content is null ? null : path, environment);
    }

    public static byte[] ReadFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException)
        {
            throw new ConfigException(path, ["cannot read config file: permission denied (check the volume's defaultMode and the user the sidecar runs as)"]);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Gone between the existence check and the read: in a ConfigMap volume, a symlink whose target the kubelet
            // has just removed. The exception's own message is a bare resource key in this build.
            throw new ConfigException(path, ["config file not found: removed while being read, or a symlink to a file that no longer exists"]);
        }
        catch (IOException e)
        {
            throw new ConfigException(path, [$"cannot read config file: {e.GetType().Name} {e.Message}"]);
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
                // Editors on Windows save a byte order mark, and a ConfigMap created from such a file keeps it.
                var json = content.AsMemory();
                if (json.Span.StartsWith(Utf8Bom))
                {
                    json = json[Utf8Bom.Length..];
                }

                document = JsonDocument.Parse(json, JsonOptions);
            }
            catch (JsonException e)
            {
                throw new ConfigException(source, [DescribeSyntaxError(content, e)]);
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
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var definition in SettingsCatalog.All)
        {
            var (value, origin) = environment(definition.EnvironmentVariable) is { } env
                ? (env, definition.EnvironmentVariable)
                : fileValues.TryGetValue(definition.Key, out var fromFile)
                    ? (fromFile, "Sidecar." + definition.Key)
                    : (definition.Default, "default of " + definition.Key);
            values[definition.Key] = value;
            if (origin == definition.EnvironmentVariable && fileValues.TryGetValue(definition.Key, out var shadowed))
            {
                // The environment wins, but a wrong value in the file is still wrong: it would surface the day the
                // variable goes away, so it is reported now, with the same words as when it is in force.
                try
                {
                    definition.Apply(new SidecarSettings(), shadowed);
                }
                catch (FormatException e)
                {
                    problems.Add($"Sidecar.{definition.Key}: {e.Message}");
                }
            }

            try
            {
                definition.Apply(settings, value);
            }
            catch (FormatException e)
            {
                problems.Add($"{origin}: {e.Message}");
                // The default keeps the settings whole, so the routing can still be checked and reported in the same round.
                definition.Apply(settings, definition.Default);
            }
        }

        if (problems.Count == 0 && settings.Port == settings.AdminPort)
        {
            problems.Add($"Port and AdminPort are both {settings.Port}; application traffic and admin endpoints need separate ports");
        }

        var (routes, clusters) = ProxyConfigReader.Read(proxySection, settings, problems);
        document?.Dispose();

        if (problems.Count > 0)
        {
            throw new ConfigException(source, problems);
        }

        var warnings = routes.SelectMany(r => SidecarMetadata.LookAlikes(r.Metadata, $"ReverseProxy.Routes.{r.RouteId}", RoutePolicy.Keys))
            .Concat(clusters.SelectMany(c => SidecarMetadata.LookAlikes(c.Metadata, $"ReverseProxy.Clusters.{c.ClusterId}", ClusterPolicy.Keys)))
            .ToList();
        if (Forwarding.ErrorPages.Problem(settings.ErrorPages) is { } errorPages)
        {
            warnings.Add(errorPages);
        }

        return new SidecarConfig(settings, routes, clusters, Fingerprint(content, environment), path) { Values = values, Warnings = warnings };
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

            // Names are matched without regard to case, so the JSON parser's own duplicate check misses these.
            if (values.ContainsKey(definition.Key))
            {
                problems.Add($"Sidecar.{property.Name}: {definition.Key} is set twice in this section; keep one (the last would win unnoticed)");
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

    private static string Suggest(string key) => Spelling.Suggest(key, SettingsCatalog.All.Select(d => d.Key));

    /// <summary>
    /// Where the JSON breaks, in lines and columns, and whether the file simply stops early: the signature of a
    /// half-written file or a truncated paste, which deserves saying so.
    /// </summary>
    private static string DescribeSyntaxError(byte[] content, JsonException e)
    {
        // The parser gives no position for a repeated key, only its name.
        if (e.Message.StartsWith("Duplicate property '", StringComparison.Ordinal))
        {
            return $"key '{e.Message.Split('\'')[1]}' appears twice in one object: keep one (the last would win unnoticed)";
        }

        var line = (int)(e.LineNumber ?? 0);
        var column = (int)(e.BytePositionInLine ?? 0);
        var lines = System.Text.Encoding.UTF8.GetString(content).TrimEnd().Split('\n');
        var atEnd = line >= lines.Length - 1 && column >= lines[^1].TrimEnd('\r').Length;
        return atEnd
            ? $"the JSON ends before it is complete (line {lines.Length}): a half-written or truncated file, or a missing closing bracket"
            : $"not valid JSON at line {line + 1}, column {column + 1}: check for a missing comma, quote or bracket";
    }

    /// <summary>A short hash of everything that shaped the config, exposed so operators can tell which config is live.</summary>
    public static string Fingerprint(byte[]? content, Func<string, string?> environment)
    {
        var hash = new XxHash128();
        if (content is not null) hash.Append(content);
        foreach (var definition in SettingsCatalog.All)
        {
            if (environment(definition.EnvironmentVariable) is { } value)
            {
                hash.Append(Encoding.UTF8.GetBytes($"\n{definition.EnvironmentVariable}={value}"));
            }
        }

        return Convert.ToHexStringLower(hash.GetCurrentHash())[..12];
    }
}
