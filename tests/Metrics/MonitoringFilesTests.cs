using System.Text.Json;
using System.Text.RegularExpressions;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Telemetry;

/// <summary>
/// The files in deploy/monitoring are checked by Prometheus' own tool, kept identical to each other, and may only
/// use families the sidecar really exports, so a renamed metric cannot leave a silent dashboard or a dead alert.
/// </summary>
public sealed partial class MonitoringFilesTests
{
    private static readonly string Monitoring = Path.Combine(TestPaths.RepositoryRoot, "deploy", "monitoring");
    private static readonly string RulesFile = Path.Combine(Monitoring, "sidecar-rules.yml");
    private static readonly string OperatorFile = Path.Combine(Monitoring, "sidecar-prometheusrule.yaml");
    private static readonly string DashboardFile = Path.Combine(Monitoring, "sidecar-dashboard.json");

    [Fact]
    public async Task RulesPassPromtoolCheck()
    {
        var (exitCode, output) = await Promtool.RunAsync(["check", "rules", RulesFile]);
        Assert.True(exitCode == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public async Task AlertsFireOnTheirSeriesInPromtoolUnitTests()
    {
        var tests = Path.Combine(TestPaths.RepositoryRoot, "tests", "Metrics", "sidecar-rules.test.yml");
        var (exitCode, output) = await Promtool.RunAsync(["test", "rules", tests]);
        Assert.True(exitCode == 0, output);
        Assert.Contains("SUCCESS", output);
    }

    [Fact]
    public async Task PrometheusRuleCarriesExactlyThePlainRules()
    {
        var plain = File.ReadAllLines(RulesFile).Where(line => !line.StartsWith('#')).ToList();
        var operatorLines = File.ReadAllLines(OperatorFile);
        Assert.Contains("apiVersion: monitoring.coreos.com/v1", operatorLines);
        Assert.Contains("kind: PrometheusRule", operatorLines);
        var spec = Array.IndexOf(operatorLines, "spec:");
        Assert.True(spec > 0, "no top-level spec: in the PrometheusRule");
        var groups = operatorLines.Skip(spec + 1).Select(line => line.Length == 0 ? line : line.StartsWith("  ") ? line[2..] : "NOT INDENTED: " + line).ToList();
        Assert.Equal(string.Join('\n', plain), string.Join('\n', groups));

        // The extracted groups are a valid rules file in their own right.
        var extracted = Path.Combine(Directory.CreateTempSubdirectory("sidecar-rules-").FullName, "operator-rules.yml");
        await File.WriteAllLinesAsync(extracted, groups);
        var (exitCode, output) = await Promtool.RunAsync(["check", "rules", extracted]);
        Directory.Delete(Path.GetDirectoryName(extracted)!, recursive: true);
        Assert.True(exitCode == 0, output);
    }

    [Fact]
    public async Task DashboardAndRulesUseOnlyExportedFamilies()
    {
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(DashboardFile));
        var expressions = new List<string>();
        CollectExpressions(dashboard.RootElement, expressions);
        Assert.True(expressions.Count >= 15, $"the dashboard has only {expressions.Count} queries");
        expressions.Add(await File.ReadAllTextAsync(RulesFile));

        var exported = await ExportedFamiliesAsync();
        var missing = expressions
            .SelectMany(e => MetricName().Matches(e).Select(m => m.Value))
            .Distinct()
            .Where(name => !exported.Contains(name) && !exported.Contains(HistogramSeries().Replace(name, "")))
            .ToList();
        Assert.True(missing.Count == 0, "not exported by the sidecar: " + string.Join(", ", missing));
    }

    [Fact]
    public async Task DashboardIsWellFormedForGrafana()
    {
        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(DashboardFile));
        var root = dashboard.RootElement;
        Assert.Equal("sidecar", root.GetProperty("uid").GetString());
        var variables = root.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Select(v => v.GetProperty("name").GetString()!)
            .ToHashSet();
        Assert.Contains("datasource", variables);

        var ids = new HashSet<int>();
        foreach (var panel in root.GetProperty("panels").EnumerateArray())
        {
            var title = panel.GetProperty("title").GetString();
            Assert.True(ids.Add(panel.GetProperty("id").GetInt32()), $"duplicate panel id at '{title}'");
            var grid = panel.GetProperty("gridPos");
            Assert.True(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32() <= 24, $"'{title}' is wider than the dashboard");
            if (panel.GetProperty("type").GetString() == "row")
            {
                continue;
            }

            Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            foreach (var target in targets)
            {
                var expr = target.GetProperty("expr").GetString()!;
                foreach (Match variable in DashboardVariable().Matches(expr))
                {
                    Assert.True(variable.Groups[1].Value.StartsWith("__") || variables.Contains(variable.Groups[1].Value),
                        $"'{title}' uses ${variable.Groups[1].Value}, which the dashboard does not define");
                }
            }
        }
    }

    private static void CollectExpressions(JsonElement element, List<string> expressions)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == "expr" && property.Value.ValueKind == JsonValueKind.String)
                    {
                        expressions.Add(property.Value.GetString()!);
                    }
                    else
                    {
                        CollectExpressions(property.Value, expressions);
                    }
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    CollectExpressions(item, expressions);
                }

                break;
        }
    }

    /// <summary>
    /// Family names in the exposition of a sidecar with a static mount and an admission limit that has served a
    /// proxied and a static request (labelled families appear with their first child).
    /// </summary>
    private static async Task<HashSet<string>> ExportedFamiliesAsync()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        var staticRoot = Directory.CreateTempSubdirectory("sidecar-static-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(staticRoot, "site.css"), string.Concat(Enumerable.Repeat("body { color: black; }\n", 200)));
            using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
            {
                ["SIDECAR_STATIC_ROOT"] = staticRoot,
                ["SIDECAR_UPSTREAM_CONCURRENCY"] = "1",
            });
            using var client = sidecar.Client();
            using var admin = sidecar.Client(admin: true);
            (await client.GetAsync("/hello")).EnsureSuccessStatusCode();
            (await client.GetAsync("/static/site.css")).EnsureSuccessStatusCode();
            var exposition = await admin.GetStringAsync("/metrics");
            return exposition.Split('\n')
                .Where(line => line.StartsWith("# TYPE "))
                .Select(line => line.Split(' ')[2])
                .ToHashSet();
        }
        finally
        {
            Directory.Delete(staticRoot, recursive: true);
        }
    }

    [GeneratedRegex(@"\b(sidecar|process|dotnet|microsoft_aspnetcore|system_runtime)_[a-z0-9_]+\b")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"\$\{?([A-Za-z_]+)")]
    private static partial Regex DashboardVariable();

    [GeneratedRegex("_(bucket|sum|count)$")]
    private static partial Regex HistogramSeries();
}
