using System.Text;
using System.Text.Json;
using Sidecar.Configuration;

namespace Sidecar.Tests.Configuration;

/// <summary>
/// Writes deploy/sidecar.schema.json from the settings catalog. Each setting's value syntax is found by trying
/// characteristic values on the setting's own parser, so the schema follows the code without a second table.
/// </summary>
public static class SchemaGenerator
{
    /// <summary>YARP's own schema for its section, pinned to the YARP version the sidecar is built with.</summary>
    public const string YarpSchemaFile = "src/ReverseProxy/ConfigurationSchema.json";

    public enum Kind { Text, Switch, Duration, Size, Port, Count, Url, Networks, Json }

    public static string YarpSchemaUrl(string yarpVersion) =>
        $"https://raw.githubusercontent.com/dotnet/yarp/v{yarpVersion}/{YarpSchemaFile}#/properties/ReverseProxy";

    public static Kind KindOf(SettingDefinition definition)
    {
        bool Accepts(string value)
        {
            try
            {
                definition.Apply(new SidecarSettings(), value);
                return true;
            }
            catch (FormatException)
            {
                return false;
            }
        }

        return true switch
        {
            _ when Accepts("any text / at all") => Kind.Text,
            _ when Accepts("on") && Accepts("off") => Kind.Switch,
            _ when Accepts("1500ms") && !Accepts("1k") => Kind.Duration,
            _ when Accepts("1k") && !Accepts("1500ms") => Kind.Size,
            _ when Accepts("http://127.0.0.1:1") => Kind.Url,
            _ when Accepts("10.0.0.0/8,::1/128") => Kind.Networks,
            _ when Accepts("[]") => Kind.Json,
            _ when Accepts("8080") && !Accepts("70000") => Kind.Port,
            _ when Accepts("7") && !Accepts("7k") => Kind.Count,
            _ => Kind.Text,
        };
    }

    public static string Generate(string yarpVersion)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteString("$schema", "http://json-schema.org/draft-07/schema#");
            json.WriteString("title", "Sidecar configuration file (SIDECAR_CONFIG)");
            json.WriteString("description", "Generated from the settings catalog by tests/Configuration/SchemaGenerator.cs; do not edit by hand.");
            json.WriteString("type", "object");
            json.WriteBoolean("additionalProperties", false);
            json.WriteStartObject("properties");

            json.WriteStartObject("$schema");
            json.WriteString("type", "string");
            json.WriteString("description", "Where editors find this schema; the sidecar ignores it.");
            json.WriteEndObject();

            json.WriteStartObject("Sidecar");
            json.WriteString("description", "Sidecar settings. Each one can also be set by its environment variable, which wins over the file.");
            json.WriteString("type", "object");
            json.WriteBoolean("additionalProperties", false);
            json.WriteStartObject("properties");
            foreach (var definition in SettingsCatalog.All)
            {
                json.WriteStartObject(definition.Key);
                json.WriteString("description", $"{definition.Help} Environment variable: {definition.EnvironmentVariable}.");
                json.WriteString("default", definition.Default);
                WriteKind(json, KindOf(definition));
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();

            json.WriteStartObject("ReverseProxy");
            json.WriteString("description", "YARP routes and clusters, as YARP documents them. A cluster named 'upstream' always exists.");
            json.WriteStartArray("allOf");
            json.WriteStartObject();
            json.WriteString("$ref", YarpSchemaUrl(yarpVersion));
            json.WriteEndObject();
            WriteRouteMetadata(json);
            json.WriteEndArray();
            json.WriteEndObject();

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()).Replace("\r\n", "\n") + "\n";
    }

    private static void WriteRouteMetadata(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteStartObject("properties");
        json.WriteStartObject("Routes");
        json.WriteStartObject("additionalProperties");
        json.WriteStartObject("properties");
        json.WriteStartObject("Metadata");
        json.WriteString("description", "Keys starting with 'Sidecar.' override the sidecar setting of the same name for this route.");
        json.WriteStartObject("properties");
        foreach (var key in RoutePolicy.Keys)
        {
            var definition = SettingsCatalog.Find(key)!;
            json.WriteStartObject(RoutePolicy.Prefix + key);
            json.WriteString("description", $"This route's {key}. {definition.Help}");
            WriteKind(json, KindOf(definition));
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteStartObject("propertyNames");
        json.WriteString("description", "Sidecar.* keys must be one of the known route settings.");
        json.WriteString("pattern", $"^(?!Sidecar\\.)|^Sidecar\\.({string.Join('|', RoutePolicy.Keys)})$");
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteKind(Utf8JsonWriter json, Kind kind)
    {
        switch (kind)
        {
            case Kind.Switch:
                json.WriteStartArray("enum");
                json.WriteBooleanValue(true);
                json.WriteBooleanValue(false);
                foreach (var word in new[] { "on", "off", "true", "false", "yes", "no", "1", "0" }) json.WriteStringValue(word);
                json.WriteEndArray();
                break;
            case Kind.Duration:
                Number(json, "number", 0, null, "^\\s*([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([mM][sS]|[sSmMhH])?\\s*$");
                break;
            case Kind.Size:
                Number(json, "integer", 0, null, "^\\s*[0-9]+[kKmMgG]?\\s*$");
                break;
            case Kind.Port:
                Number(json, "integer", 1, 65535, "^\\s*[0-9]{1,5}\\s*$");
                break;
            case Kind.Count:
                Number(json, "integer", 0, null, "^\\s*[0-9]+\\s*$");
                break;
            case Kind.Url:
                json.WriteString("type", "string");
                json.WriteString("pattern", "^\\s*(https?://[^/\\s]+|unix:/)");
                break;
            case Kind.Networks:
                Types(json, "string", "array");
                json.WriteStartObject("items");
                json.WriteString("type", "string");
                json.WriteEndObject();
                break;
            case Kind.Json:
                // A structured value: JSON in the file, the same JSON as text in the environment variable.
                Types(json, "array", "object", "string");
                break;
            default:
                json.WriteString("type", "string");
                break;
        }
    }

    /// <summary>A number written bare or as text (the loader reads both), the text form checked by a pattern.</summary>
    private static void Number(Utf8JsonWriter json, string type, int minimum, int? maximum, string pattern)
    {
        Types(json, "string", type);
        json.WriteNumber("minimum", minimum);
        if (maximum is { } max) json.WriteNumber("maximum", max);
        json.WriteString("pattern", pattern);
    }

    private static void Types(Utf8JsonWriter json, params string[] types)
    {
        json.WriteStartArray("type");
        foreach (var type in types) json.WriteStringValue(type);
        json.WriteEndArray();
    }
}
