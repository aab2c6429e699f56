namespace Sidecar.Tests.Infrastructure;

/// <summary>The built sidecar as a real process on free loopback ports, configured only through its environment.</summary>
public sealed class SidecarProcess : IAsyncDisposable
{
    private readonly ExternalProcess _process;

    private SidecarProcess(ExternalProcess process, int port, int adminPort)
    {
        _process = process;
        Port = port;
        AdminPort = adminPort;
    }

    public int Port { get; }

    public int AdminPort { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public Uri AdminAddress => new($"http://127.0.0.1:{AdminPort}");

    public string Output => _process.Output;

    public ExternalProcess Process => _process;

    public static async Task<SidecarProcess> StartAsync(Uri upstream, IDictionary<string, string>? settings = null, string[]? arguments = null)
    {
        var port = Ports.Free();
        var adminPort = Ports.Free();
        var environment = new Dictionary<string, string>
        {
            ["SIDECAR_PORT"] = port.ToString(),
            ["SIDECAR_ADMIN_PORT"] = adminPort.ToString(),
            ["SIDECAR_UPSTREAM"] = upstream.ToString(),
            ["SIDECAR_CONFIG"] = "",
            ["DOTNET_gcServer"] = "0",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var process = new ExternalProcess("dotnet", [TestPaths.SidecarDll, .. arguments ?? []], environment: environment);
        var sidecar = new SidecarProcess(process, port, adminPort);
        try
        {
            await Ports.WaitUntilListeningAsync(adminPort, TimeSpan.FromSeconds(30), () => process.Output);
        }
        catch
        {
            await sidecar.DisposeAsync();
            throw;
        }

        return sidecar;
    }

    public async ValueTask DisposeAsync() => await _process.DisposeAsync();
}
