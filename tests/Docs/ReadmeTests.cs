using System.Text.RegularExpressions;
using Sidecar.Configuration;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Docs;

/// <summary>The README's settings reference is the user's contract: every setting, its file key and its default.</summary>
public sealed class ReadmeTests
{
    private static readonly string Readme = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "README.md"));

    public static TheoryData<string> Settings() => new(SettingsCatalog.All.Select(d => d.Key));

    [Theory]
    [MemberData(nameof(Settings))]
    public void EverySettingIsDocumentedWithItsDefault(string key)
    {
        var definition = SettingsCatalog.Find(key)!;
        var row = Readme.Split('\n').FirstOrDefault(line => line.StartsWith($"| `{definition.EnvironmentVariable}` |", StringComparison.Ordinal));
        Assert.True(row is not null, $"README has no settings row for {definition.EnvironmentVariable}");
        Assert.Contains($"| `{definition.Key}` |", row);
        var documentedDefault = Regex.Match(row!, @"^\|[^|]+\|[^|]+\|\s*([^|]+?)\s*\|").Groups[1].Value;
        if (definition.Default.Length == 0)
        {
            Assert.DoesNotContain("`", documentedDefault);
        }
        else
        {
            Assert.Equal($"`{definition.Default}`", documentedDefault);
        }
    }

    [Fact]
    public void EveryDocumentedVariableExists()
    {
        var documented = Regex.Matches(Readme, @"^\| `(SIDECAR_[A-Z_]+)` \|", RegexOptions.Multiline).Select(m => m.Groups[1].Value);
        var known = SettingsCatalog.All.Select(d => d.EnvironmentVariable).Append(ConfigLoader.ConfigVariable).ToHashSet();
        Assert.All(documented, variable => Assert.Contains(variable, known));
    }
}
