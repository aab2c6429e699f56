using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Sidecar.Tests.Infrastructure;

/// <summary>
/// The sidecar in-process (WebApplicationFactory) but on real Kestrel sockets, so Kestrel's limits,
/// timeouts and framing checks are exercised exactly as in production.
/// </summary>
public sealed class SidecarFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;

    public SidecarFactory(Uri upstream, IDictionary<string, string>? settings = null)
    {
        Port = Ports.Free();
        AdminPort = Ports.Free();
        _settings = new Dictionary<string, string?>
        {
            ["SIDECAR_PORT"] = Port.ToString(),
            ["SIDECAR_ADMIN_PORT"] = AdminPort.ToString(),
            ["SIDECAR_UPSTREAM"] = upstream.ToString(),
            ["SIDECAR_CONFIG"] = "",
            ["SIDECAR_ACCESS_LOG"] = "off",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            _settings[key] = value;
        }

        UseKestrel();
        StartServer();
    }

    public int Port { get; }

    public int AdminPort { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public Uri AdminAddress => new($"http://127.0.0.1:{AdminPort}");

    public HttpClient Client(bool admin = false) => new() { BaseAddress = admin ? AdminAddress : Address, Timeout = TimeSpan.FromSeconds(30) };

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
    }
}
