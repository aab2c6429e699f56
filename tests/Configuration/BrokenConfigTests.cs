using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Sidecar.Configuration;
using Sidecar.Hosting;
using Yarp.ReverseProxy.Configuration;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Configuration;

/// <summary>Each broken config is refused with the exact words the user sees, the same in every place they see them.</summary>
public sealed class BrokenConfigTests
{
    public static TheoryData<BrokenConfigs.Case> Cases() => new(BrokenConfigs.All);

    [Theory]
    [MemberData(nameof(Cases))]
    public void CheckConfigNamesEveryProblemAndFails(BrokenConfigs.Case broken)
    {
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", broken.Content);
        var path = volume.PathOf("sidecar.json");
        var output = new StringWriter();
        var errors = new StringWriter();

        var exit = CheckConfigCommand.Run([CheckConfigCommand.Flag, path], _ => null, output, errors);

        Assert.Equal(1, exit);
        Assert.Equal("", output.ToString());
        Assert.Equal(Expected(path, broken), errors.ToString());
    }

    [Fact]
    public async Task TheRealBinaryExitsNonZeroWithTheSameText()
    {
        using var volume = new KubeletVolume();
        foreach (var broken in new[] { BrokenConfigs.All[2], BrokenConfigs.All[^1] })
        {
            volume.Write("sidecar.json", broken.Content);
            var path = volume.PathOf("sidecar.json");
            await using var process = new ExternalProcess("dotnet", [TestPaths.SidecarDll, CheckConfigCommand.Flag, path]);
            Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(30)), process.Output);
            Assert.Equal(1, process.ExitCode);
            Assert.Equal(Expected(path, broken), process.Output);
        }

        volume.Write("sidecar.json", ConfigText.Versioned("v1"));
        await using var good = new ExternalProcess("dotnet", [TestPaths.SidecarDll, CheckConfigCommand.Flag, volume.PathOf("sidecar.json")]);
        Assert.True(await good.WaitForExitAsync(TimeSpan.FromSeconds(30)), good.Output);
        Assert.Equal(0, good.ExitCode);
        Assert.StartsWith($"configuration OK: {volume.PathOf("sidecar.json")} (1 routes, 1 clusters, hash ", good.Output);
    }

    /// <summary>Start-up runs YARP's checks with the host's own container before anything listens: same problems, exit 2.</summary>
    [Fact]
    public async Task StartUpRefusesWhatOnlyYarpsChecksFind()
    {
        using var volume = new KubeletVolume();
        var yarpOnly = BrokenConfigs.All.Where(c => c.Name.Contains("(YARP's check)", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, yarpOnly.Count);
        foreach (var broken in yarpOnly)
        {
            volume.Write("sidecar.json", broken.Content);
            var port = Ports.Free();
            await using var process = new ExternalProcess("dotnet", [TestPaths.SidecarDll], environment: new Dictionary<string, string>
            {
                ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json"),
                ["SIDECAR_PORT"] = port.ToString(),
                ["SIDECAR_ADMIN_PORT"] = Ports.Free().ToString(),
            });
            Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(30)), process.Output);
            Assert.Equal(2, process.ExitCode);
            Assert.Contains($"sidecar: configuration invalid ({volume.PathOf("sidecar.json")}):\n", process.Output);
            Assert.All(broken.Problems, problem => Assert.Contains($"  - {problem}\n", process.Output));
            Assert.DoesNotContain("Now listening", process.Output);
        }
    }

    /// <summary>Not broken: a byte order mark (Windows editors write one) and CRLF line ends are fine.</summary>
    [Fact]
    public void AByteOrderMarkAndCrlfLineEndsAreAccepted()
    {
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", "\uFEFF" + ConfigText.Versioned("bom").Replace("\n", "\r\n"));
        var errors = new StringWriter();
        Assert.True(CheckConfigCommand.Run([CheckConfigCommand.Flag, volume.PathOf("sidecar.json")], _ => null, new StringWriter(), errors) == 0, errors.ToString());
    }

    [Fact]
    public void ASymlinkToAFileThatIsGoneIsReportedInWords()
    {
        // A ConfigMap volume's sidecar.json -> ..data/sidecar.json, with ..data pointing at a directory already removed.
        using var scratch = new ScratchDirectory("sidecar-dangling-");
        var link = Path.Combine(scratch.Path, "sidecar.json");
        File.CreateSymbolicLink(link, Path.Combine(scratch.Path, "..data", "sidecar.json"));

        var error = Assert.Throws<ConfigException>(() => ConfigLoader.ReadFile(link));

        Assert.Equal(["config file not found: removed while being read, or a symlink to a file that no longer exists"], error.Problems);
    }

    [Fact]
    public void ADirectoryNamedAsTheConfigFileIsSaidToBeOne()
    {
        using var scratch = new ScratchDirectory("sidecar-dir-");
        var errors = new StringWriter();

        Assert.Equal(1, CheckConfigCommand.Run([CheckConfigCommand.Flag, scratch.Path], _ => null, new StringWriter(), errors));

        Assert.Contains($"{scratch.Path} is a directory; SIDECAR_CONFIG names the config file itself", errors.ToString());
    }

    [Fact]
    public void SidecarVariablesThatNameNoSettingAreWarnedAbout()
    {
        var output = new StringWriter();
        string[] environment = ["SIDECAR_MAX_BODYSIZE", "SIDECAR_MAX_BODY_SIZE", "SIDECAR_CONFIG", "SIDECAR_SERVICE_HOST", "SIDECAR_PORT_8080_TCP", "PATH"];

        Assert.Equal(0, CheckConfigCommand.Run([CheckConfigCommand.Flag], _ => null, output, new StringWriter(), environment));

        var warnings = output.ToString().Split('\n').Where(l => l.StartsWith("  warning: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["  warning: SIDECAR_MAX_BODYSIZE: not a setting, so it is ignored; did you mean 'SIDECAR_MAX_BODY_SIZE'?"], warnings);
    }

    /// <summary>The check runs where the sidecar will, so it says what start-up would about the directories there.</summary>
    [Fact]
    public void AStaticRootOrTempDirThatIsNotThereIsAWarning()
    {
        var output = new StringWriter();
        Func<string, string?> environment = key => key switch
        {
            "SIDECAR_STATIC_ROOT" => "/nonexistent/staticfiles",
            "SIDECAR_TEMP_DIR" => "/nonexistent/spool",
            _ => null,
        };

        Assert.Equal(0, CheckConfigCommand.Run([CheckConfigCommand.Flag], environment, output, new StringWriter()));

        var warnings = output.ToString().Split('\n').Where(l => l.StartsWith("  warning: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.Equal("  warning: static files for /static/: directory /nonexistent/staticfiles does not exist here; nothing is served from it", warnings[0]);
        Assert.StartsWith("  warning: The spool directory /nonexistent/spool cannot hold bodies (", warnings[1]);
    }

    /// <summary>Metadata YARP accepts but the sidecar would ignore is valid, with a warning naming the key meant.</summary>
    [Fact]
    public void MetadataMeantForTheSidecarButIgnoredIsAWarning()
    {
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", """
            { "ReverseProxy": {
                "Routes": { "upload": { "ClusterId": "upstream", "Match": { "Path": "/upload" },
                                        "Metadata": { "Sidcar.MaxBodySize": "200m", "MaxBodySize": "200m", "Team": "payments" } } },
                "Clusters": { "upstream": { "Metadata": { "sidecar-MaxConcurrency": "4", "SideCar_.QueueLength": "5" } } } } }
            """);
        var output = new StringWriter();
        var errors = new StringWriter();

        Assert.Equal(0, CheckConfigCommand.Run([CheckConfigCommand.Flag, volume.PathOf("sidecar.json")], _ => null, output, errors));

        Assert.Equal("", errors.ToString());
        var warnings = output.ToString().Split('\n').Where(l => l.StartsWith("  warning: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(
        [
            "  warning: ReverseProxy.Routes.upload.Metadata.Sidcar.MaxBodySize: ignored, because only keys starting with 'Sidecar.' are sidecar settings; did you mean 'Sidecar.MaxBodySize'?",
            "  warning: ReverseProxy.Routes.upload.Metadata.MaxBodySize: ignored, because only keys starting with 'Sidecar.' are sidecar settings; did you mean 'Sidecar.MaxBodySize'?",
            "  warning: ReverseProxy.Clusters.upstream.Metadata.SideCar_.QueueLength: ignored, because only keys starting with 'Sidecar.' are sidecar settings; did you mean 'Sidecar.QueueLength'?",
        ], warnings);
    }

    /// <summary>A running sidecar given each broken config logs the same problems, keeps the last good config and keeps serving.</summary>
    [Fact]
    public async Task ARejectedReloadLogsTheSameProblemsAndKeepsServing()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", ConfigText.Versioned("good"));
        var path = volume.PathOf("sidecar.json");
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = path,
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "50ms",
            ["SIDECAR_ACCESS_LOG"] = "off",
        });
        using var client = new HttpClient { BaseAddress = sidecar.Address };

        foreach (var broken in BrokenConfigs.All)
        {
            var logged = "Config reload rejected, keeping config ";
            var reasons = $"in force: {path}: {string.Join(" | ", broken.Problems)}";
            int Logged() => sidecar.Output.Split('\n').Count(l => l.Contains(logged) && l.TrimEnd().EndsWith(reasons, StringComparison.Ordinal));
            var before = Logged(); // two cases may share a message: wait for one more line, not for any
            volume.Write("sidecar.json", broken.Content);
            await ConfigText.EventuallyAsync(() => Logged() > before,
                $"the rejection of '{broken.Name}' logged as '{reasons}'", detail: () => $"; output:\n{sidecar.Output}");

            var response = await client.GetAsync("/hello");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("good", response.Headers.GetValues("X-Config").Single());
        }

        // What an alert would watch: every rejection counted, nothing applied, the good config's hash still in force.
        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        var rejected = $"sidecar_config_reloads_total{{result=\"rejected\"}} {BrokenConfigs.All.Count}";
        var metrics = "";
        await ConfigText.EventuallyAsync(async () => (metrics = await admin.GetStringAsync("/metrics")).Contains(rejected),
            $"'{rejected}' in /metrics", detail: () => "\n" + metrics);
        Assert.DoesNotContain("sidecar_config_reloads_total{result=\"applied\"} 1", metrics);
    }

    /// <summary>
    /// --check-config and start-up build YARP's validator in a container of their own; a reload uses the running
    /// host's. Both must judge every config alike, or a file could pass the check and fail the reload.
    /// </summary>
    [Fact]
    public async Task TheRunningHostJudgesEveryConfigLikeCheckConfig()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        using var sidecar = new SidecarFactory(gunicorn.Address);
        var host = new ConfigValidation(sidecar.Services.GetRequiredService<IConfigValidator>());
        var standalone = ConfigValidation.Standalone();
        var cases = BrokenConfigs.All.Select(c => c.Content).Append(ConfigText.Versioned("good"));
        foreach (var content in cases.Concat(ExampleFiles()))
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes(content);
            Assert.Equal(await ProblemsAsync(standalone, bytes), await ProblemsAsync(host, bytes));
        }
    }

    private static IEnumerable<string> ExampleFiles() =>
        Directory.GetFiles(Path.Combine(TestPaths.RepositoryRoot, "deploy", "examples"), "*.json").Select(File.ReadAllText);

    private static async Task<string> ProblemsAsync(ConfigValidation validation, byte[] content)
    {
        try
        {
            var config = await validation.ParseAsync(content, "sidecar.json", _ => null);
            return "valid " + config.Hash;
        }
        catch (ConfigException e)
        {
            return string.Join("\n", e.Problems);
        }
    }

    private static string Expected(string path, BrokenConfigs.Case broken) =>
        $"configuration invalid: {path}\n" + string.Concat(broken.Problems.Select(p => $"  - {p}\n"));
}
