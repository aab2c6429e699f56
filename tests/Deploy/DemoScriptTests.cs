using System.Net;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Deploy;

/// <summary>examples/demo.sh, the README's way to see the sidecar in front of a real app, works and cleans up.</summary>
public class DemoScriptTests
{
    [Theory]
    [InlineData("django", "/static/notes/app.css")]
    [InlineData("flask", "/static/app.css")]
    public async Task The_demo_serves_the_example_and_stops_everything_on_sigterm(string app, string stylesheet)
    {
        var (port, adminPort, appPort) = (Ports.Free(), Ports.Free(), Ports.Free());
        await using var demo = new ExternalProcess("bash", [Path.Combine(TestPaths.RepositoryRoot, "examples", "demo.sh"), app],
            environment: new Dictionary<string, string>
            {
                ["SIDECAR_DLL"] = TestPaths.SidecarDll,
                ["SIDECAR_PORT"] = port.ToString(),
                ["SIDECAR_ADMIN_PORT"] = adminPort.ToString(),
                ["APP_PORT"] = appPort.ToString(),
            });
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!demo.Output.Contains("Ctrl-C stops") && !demo.HasExited && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }

        Assert.True(demo.Output.Contains("Ctrl-C stops"), demo.Output);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var page = await client.GetAsync("/");
        var created = await client.PostAsync("/api/notes", new StringContent("from the demo"));
        var css = await client.GetAsync(stylesheet);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);

        demo.Signal(15);
        Assert.True(await demo.WaitForExitAsync(TimeSpan.FromSeconds(40)), demo.Output);
        foreach (var stopped in new[] { port, adminPort, appPort })
        {
            await Assert.ThrowsAsync<TimeoutException>(() => Ports.WaitUntilListeningAsync(stopped, TimeSpan.FromMilliseconds(300)));
        }
    }
}
