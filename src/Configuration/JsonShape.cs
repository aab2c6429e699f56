using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Sidecar.Configuration;

/// <summary>
/// Checks a JSON value against the shape of the type it will be deserialized into, using the source-generated
/// metadata (no reflection), and describes every mismatch in the user's terms: the key's path, what was expected,
/// and the closest known key for a misspelling. The serializer's own exceptions name CLR types, stop at the first
/// problem, and (with the runtime's resource keys trimmed) read like "DeserializeUnableToConvertValue".
/// </summary>
public static class JsonShape
{
    public static void Check(JsonElement value, JsonTypeInfo type, string path, List<string> problems)
    {
        if (value.ValueKind == JsonValueKind.Null && IsNullable(type.Type))
        {
            return;
        }

        switch (type.Kind)
        {
            case JsonTypeInfoKind.Object:
                CheckObject(value, type, path, problems);
                break;
            case JsonTypeInfoKind.Dictionary:
                if (value.ValueKind != JsonValueKind.Object)
                {
                    problems.Add($"{path}: expected an object of named entries, found {Describe(value)}");
                    return;
                }

                var entryType = type.Options.GetTypeInfo(type.ElementType!);
                foreach (var entry in value.EnumerateObject())
                {
                    Check(entry.Value, entryType, $"{path}.{entry.Name}", problems);
                }

                break;
            case JsonTypeInfoKind.Enumerable:
                if (value.ValueKind != JsonValueKind.Array)
                {
                    problems.Add($"{path}: expected a list [...], found {Describe(value)}");
                    return;
                }

                var itemType = type.Options.GetTypeInfo(type.ElementType!);
                var index = 0;
                foreach (var item in value.EnumerateArray())
                {
                    Check(item, itemType, $"{path}[{index++}]", problems);
                }

                break;
            default:
                CheckScalar(value, Nullable.GetUnderlyingType(type.Type) ?? type.Type, path, problems);
                break;
        }
    }

    private static void CheckObject(JsonElement value, JsonTypeInfo type, string path, List<string> problems)
    {
        if (value.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{path}: expected an object {{...}}, found {Describe(value)}");
            return;
        }

        foreach (var property in value.EnumerateObject())
        {
            var known = type.Properties.FirstOrDefault(p => p.Name == property.Name);
            if (known is null)
            {
                var names = type.Properties.Select(p => p.Name).ToList();
                problems.Add($"{path}: unknown key '{property.Name}'{Spelling.Suggest(property.Name, names)}");
                continue;
            }

            Check(property.Value, type.Options.GetTypeInfo(known.PropertyType), $"{path}.{property.Name}", problems);
        }
    }

    private static void CheckScalar(JsonElement value, Type type, string path, List<string> problems)
    {
        var expected = type switch
        {
            _ when type == typeof(string) => value.ValueKind == JsonValueKind.String ? null : "a string",
            _ when type == typeof(bool) => value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null : "true or false",
            _ when type == typeof(int) || type == typeof(long) => IsInteger(value) ? null : "a whole number",
            _ when type == typeof(double) => IsNumber(value) ? null : "a number",
            _ when type == typeof(TimeSpan) => value.ValueKind == JsonValueKind.String && TimeSpan.TryParse(value.GetString(), System.Globalization.CultureInfo.InvariantCulture, out _)
                ? null : "a time span as \"hh:mm:ss\" (for example \"00:02:00\")",
            _ when type == typeof(Version) => value.ValueKind == JsonValueKind.String && Version.TryParse(value.GetString(), out _) ? null : "an HTTP version such as \"1.1\" or \"2\"",
            _ when type.IsEnum => IsEnumValue(value, type) ? null : $"one of {string.Join(", ", Enum.GetNames(type))}",
            _ => null, // Shapes this check does not know are left to the serializer.
        };
        if (expected is not null)
        {
            problems.Add($"{path}: expected {expected}, found {Describe(value)}");
        }
    }

    private static bool IsNullable(Type type) => !type.IsValueType || Nullable.GetUnderlyingType(type) is not null;

    private static bool IsInteger(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number ? value.TryGetInt64(out _)
        : value.ValueKind == JsonValueKind.String && long.TryParse(value.GetString(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out _);

    private static bool IsNumber(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number
        || value.ValueKind == JsonValueKind.String && double.TryParse(value.GetString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _);

    private static bool IsEnumValue(JsonElement value, Type type) =>
        value.ValueKind == JsonValueKind.String
        && Enum.GetNames(type).Any(n => string.Equals(n, value.GetString()?.Trim(), StringComparison.OrdinalIgnoreCase));

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => $"\"{Shorten(value.GetString()!)}\"",
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
        JsonValueKind.Null => "null",
        JsonValueKind.Array => "a list",
        JsonValueKind.Object => "an object",
        _ => "nothing",
    };

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";
}

/// <summary>Names the closest known key for a misspelling, the way a user would want to be told.</summary>
public static class Spelling
{
    public static string Suggest(string key, IEnumerable<string> known) =>
        Closest(key, known) is { } best ? $"; did you mean '{best}'?" : "";

    /// <summary>The known key a typo most likely meant, or null when none is close.</summary>
    public static string? Closest(string key, IEnumerable<string> known)
    {
        var best = known
            .Select(k => (Key: k, Distance: EditDistance(key.ToLowerInvariant(), k.ToLowerInvariant())))
            .DefaultIfEmpty((Key: "", Distance: int.MaxValue))
            .MinBy(x => x.Distance);
        return best.Distance <= Math.Max(2, key.Length / 3) ? best.Key : null;
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
}
