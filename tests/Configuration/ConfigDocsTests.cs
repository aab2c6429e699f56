using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Sidecar.Configuration;
using Sidecar.Hosting;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Configuration;

/// <summary>The schema, the example configs and the README's reload section say what the code does.</summary>
public sealed class ConfigDocsTests
{
    private static readonly string Root = TestPaths.RepositoryRoot;
    private static readonly string SchemaPath = Path.Combine(Root, "deploy", "sidecar.schema.json");
    private static readonly string Readme = File.ReadAllText(Path.Combine(Root, "README.md"));

    private static IReadOnlyList<string> ExampleNames =>
        Directory.GetFiles(Path.Combine(Root, "deploy", "examples"), "*.json").Select(p => Path.GetFileName(p)).Order().ToList();

    public static TheoryData<string> Examples() => new(ExampleNames);

    private static string YarpVersion =>
        XDocument.Load(Path.Combine(Root, "src", "Sidecar.csproj")).Descendants("PackageReference")
            .Single(p => (string?)p.Attribute("Include") == "Yarp.ReverseProxy").Attribute("Version")!.Value;

    /// <summary>Set SIDECAR_UPDATE_SCHEMA=1 to rewrite the schema after changing a setting, then commit it.</summary>
    [Fact]
    public void TheSchemaFileIsGeneratedFromTheSettingsCatalog()
    {
        var generated = SchemaGenerator.Generate(YarpVersion);
        if (Environment.GetEnvironmentVariable("SIDECAR_UPDATE_SCHEMA") == "1")
        {
            File.WriteAllText(SchemaPath, generated);
        }

        Assert.True(File.Exists(SchemaPath), "deploy/sidecar.schema.json is missing; run the test with SIDECAR_UPDATE_SCHEMA=1");
        Assert.True(generated == File.ReadAllText(SchemaPath),
            "deploy/sidecar.schema.json is out of date with SettingsCatalog; run: SIDECAR_UPDATE_SCHEMA=1 dotnet test tests --filter FullyQualifiedName~ConfigDocsTests");
    }

    [Fact]
    public void EverySettingsDefaultMatchesItsSchema()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(SchemaPath));
        var settings = schema.RootElement.GetProperty("properties").GetProperty("Sidecar").GetProperty("properties");
        foreach (var definition in SettingsCatalog.All)
        {
            var property = settings.GetProperty(definition.Key);
            Assert.Equal(definition.Default, property.GetProperty("default").GetString());
            if (property.TryGetProperty("pattern", out var pattern) && definition.Default.Length > 0)
            {
                Assert.Matches(new Regex(pattern.GetString()!, RegexOptions.ECMAScript), definition.Default);
            }

            if (property.TryGetProperty("enum", out var values))
            {
                Assert.Contains(definition.Default, values.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.String).Select(v => v.GetString()));
            }
        }

        // The probes must have recognised the common syntaxes (a broken probe would silently make everything text).
        Assert.Equal(SchemaGenerator.Kind.Size, SchemaGenerator.KindOf(SettingsCatalog.Find("MaxBodySize")!));
        Assert.Equal(SchemaGenerator.Kind.Duration, SchemaGenerator.KindOf(SettingsCatalog.Find("UpstreamTimeout")!));
        Assert.Equal(SchemaGenerator.Kind.Switch, SchemaGenerator.KindOf(SettingsCatalog.Find("AccessLog")!));
        Assert.Equal(SchemaGenerator.Kind.Port, SchemaGenerator.KindOf(SettingsCatalog.Find("Port")!));
        Assert.Equal(SchemaGenerator.Kind.Count, SchemaGenerator.KindOf(SettingsCatalog.Find("MaxHeaderCount")!));
        Assert.Equal(SchemaGenerator.Kind.Url, SchemaGenerator.KindOf(SettingsCatalog.Find("Upstream")!));
        Assert.Equal(SchemaGenerator.Kind.Networks, SchemaGenerator.KindOf(SettingsCatalog.Find("TrustedNetworks")!));
    }

    /// <summary>The schema refers to YARP's schema of the YARP version the sidecar is built with, and that part exists.</summary>
    [Fact]
    public void TheReverseProxySectionRefersToYarpsSchemaOfTheSameVersion()
    {
        using var schema = JsonDocument.Parse(File.ReadAllText(SchemaPath));
        var reference = schema.RootElement.GetProperty("properties").GetProperty("ReverseProxy").GetProperty("allOf")[0].GetProperty("$ref").GetString();
        Assert.Equal(SchemaGenerator.YarpSchemaUrl(YarpVersion), reference);

        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var shipped = Path.Combine(packages, "yarp.reverseproxy", YarpVersion, "ConfigurationSchema.json");
        using var yarp = JsonDocument.Parse(File.ReadAllText(shipped));
        var section = yarp.RootElement.GetProperty("properties").GetProperty("ReverseProxy").GetProperty("properties");
        Assert.True(section.TryGetProperty("Routes", out _) && section.TryGetProperty("Clusters", out _));
    }

    /// <summary>A real JSON Schema validator accepts every example and shipped config, and rejects what the sidecar rejects.</summary>
    [Fact]
    public async Task AJsonSchemaValidatorAcceptsTheExamplesAndCatchesMistakes()
    {
        var directory = Directory.CreateTempSubdirectory("sidecar-schema-").FullName;
        try
        {
            var mistakes = new Dictionary<string, string>
            {
                ["misspelled-setting.json"] = """{ "Sidecar": { "MaxBodySise": "10m" } }""",
                ["bad-size.json"] = """{ "Sidecar": { "MaxBodySize": "ten megs" } }""",
                ["bad-route-setting.json"] = """{ "ReverseProxy": { "Routes": { "r": { "ClusterId": "upstream", "Metadata": { "Sidecar.Buffering": "off" } } } } }""",
                ["yarp-type.json"] = """{ "ReverseProxy": { "Routes": { "r": { "ClusterId": "upstream", "Order": "first" } } } }""",
            };
            foreach (var (name, text) in mistakes)
            {
                await File.WriteAllTextAsync(Path.Combine(directory, name), text);
            }

            var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            // The examples, and every sidecar.json the deploy tree ships in a ConfigMap.
            var examples = ExampleNames.Select(name => Path.Combine(Root, "deploy", "examples", name))
                .Concat(Directory.GetFiles(Path.Combine(Root, "deploy"), "sidecar.json", SearchOption.AllDirectories)).ToList();
            await using var python = new ExternalProcess("/usr/bin/python3",
            [
                Path.Combine(Root, "tests", "Configuration", "validate_schema.py"), SchemaPath,
                Path.Combine(packages, "yarp.reverseproxy", YarpVersion, "ConfigurationSchema.json"),
                SchemaGenerator.YarpSchemaUrl(YarpVersion).Split('#')[0],
                .. examples, .. mistakes.Keys.Select(k => Path.Combine(directory, k)),
            ]);
            Assert.True(await python.WaitForExitAsync(TimeSpan.FromSeconds(30)), python.Output);
            Assert.True(python.ExitCode == 0, python.Output);
            var lines = python.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.All(examples, example => Assert.Contains($"OK {example}", lines));
            Assert.All(mistakes.Keys, mistake => Assert.Contains(lines, l => l.StartsWith($"INVALID {Path.Combine(directory, mistake)}: ", StringComparison.Ordinal)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Examples))]
    public void EveryExampleIsValidPointsAtTheSchemaAndIsShownInTheReadme(string name)
    {
        var path = Path.Combine(Root, "deploy", "examples", name);
        var output = new StringWriter();
        var errors = new StringWriter();
        Assert.True(CheckConfigCommand.Run([CheckConfigCommand.Flag, path], _ => null, output, errors) == 0, errors.ToString());

        var text = File.ReadAllText(path);
        using var document = JsonDocument.Parse(text);
        Assert.Equal("../sidecar.schema.json", document.RootElement.GetProperty("$schema").GetString());
        Assert.Contains($"```json\n{text.TrimEnd('\n')}\n```", Readme);
    }

    /// <summary>Every config file shown in the README is one the sidecar accepts.</summary>
    [Fact]
    public void EveryConfigInTheReadmeIsValid()
    {
        var blocks = Regex.Matches(Readme, "```json\n(.*?)\n```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        var configs = blocks.Where(text =>
        {
            try
            {
                using var document = JsonDocument.Parse(text);
                return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.EnumerateObject().Any()
                    && document.RootElement.EnumerateObject().All(p => p.Name is "$schema" or "Sidecar" or "ReverseProxy");
            }
            catch (JsonException)
            {
                return false; // a fragment such as an editor setting
            }
        }).ToList();
        Assert.True(configs.Count >= 5, $"only {configs.Count} config files found in the README");
        foreach (var text in configs)
        {
            var problems = new StringWriter();
            var file = Path.GetTempFileName();
            try
            {
                File.WriteAllText(file, text);
                Assert.True(CheckConfigCommand.Run([CheckConfigCommand.Flag, file], _ => null, new StringWriter(), problems) == 0, $"{problems}\n{text}");
            }
            finally
            {
                File.Delete(file);
            }
        }
    }

    [Fact]
    public void TheReadmeListsExactlyTheSettingsAppliedLive()
    {
        var line = Readme.Split('\n').Single(l => l.StartsWith("* Applied live: ", StringComparison.Ordinal));
        var listed = line["* Applied live: ".Length..].Split(", ").Select(s => s.Trim()).ToList();
        Assert.Equal("and all routing (`ReverseProxy`).", listed[^1]);
        Assert.StartsWith("every `Static*` setting", listed[^2]);
        var named = listed[..^2].Concat(SettingsCatalog.All.Select(d => d.Key).Where(k => k.StartsWith("Static", StringComparison.Ordinal)));
        Assert.Equal(ReloadScope.Live.Order(StringComparer.Ordinal), named.Order(StringComparer.Ordinal));
        Assert.All(ReloadScope.Live, key => Assert.NotNull(SettingsCatalog.Find(key)));
    }
}
