using System.Net;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Benchmarks;

/// <summary>
/// benchmarks/Floor, the bare proxy the README's CPU analysis measures beside the sidecar, must keep forwarding what
/// scenario a sends, or its numbers would be those of a proxy that answers nothing.
/// </summary>
[Collection(HeavyCollection.Name)]
public sealed class FloorProxyTests
{
    [Fact]
    public async Task TheBareProxyForwardsGetsOnAKeptAliveConnection()
    {
        using var artifacts = new ScratchDirectory("sidecar-floor-build-");
        var project = Path.Combine(TestPaths.RepositoryRoot, "benchmarks", "Floor", "Floor.csproj");
        var build = ProcessRun.Run("dotnet", ["build", project, "-c", "Release", "--artifacts-path", artifacts.Path, "-nologo", "-v", "q"],
            timeout: TimeSpan.FromMinutes(10));
        Assert.True(build.ExitCode == 0, $"dotnet build benchmarks/Floor failed:\n{build.Combined}");
        var dll = Path.Combine(artifacts.Path, "bin", "Floor", "release", "floor.dll");

        await using var gunicorn = await Gunicorn.StartAsync();
        var port = Ports.Free();
        await using var floor = new ExternalProcess("dotnet", [dll], environment: new Dictionary<string, string>
        {
            ["SIDECAR_PORT"] = port.ToString(),
            ["SIDECAR_UPSTREAM"] = gunicorn.Address.ToString(),
        });
        await Ports.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(30), () => floor.Output);

        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var client = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        for (var i = 0; i < 3; i++)
        {
            var response = await client.GetAsync("/hello");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("{\"hello\": \"world\"}", await response.Content.ReadAsStringAsync());
            Assert.False(response.Headers.ConnectionClose ?? false);
        }

        Assert.Equal(3, gunicorn.Seen());
    }
}
