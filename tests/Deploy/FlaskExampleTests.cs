using System.Net;
using System.Text.Json;
using Sidecar.Tests.Configuration;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Deploy;

/// <summary>
/// The Flask example behind the sidecar: its migration runner, its Secret file, and ProxyFix trusting
/// exactly one hop, which is safe only because the sidecar rewrites X-Forwarded-* from untrusted peers.
/// </summary>
public sealed class FlaskExampleTests : IAsyncLifetime
{
    private static readonly string Source = Path.Combine(TestPaths.RepositoryRoot, "examples", "flask");
    private readonly string _root = Directory.CreateTempSubdirectory("sidecar-flask-").FullName;
    private readonly KubeletVolume _secrets = new();
    private ExternalProcess _gunicorn = null!;
    private int _port;

    public async Task InitializeAsync()
    {
        var environment = new Dictionary<string, string>
        {
            ["NOTES_DATABASE"] = Path.Combine(_root, "notes.sqlite3"),
            ["NOTES_SECRETS_DIR"] = _secrets.Directory,
            ["NOTES_HTTPS"] = "on",
        };
        _secrets.Write("flask-secret-key", Guid.NewGuid().ToString("N") + "\n");

        var migrate = ProcessRun.Run("/usr/bin/python3", ["-m", "notes", "migrate"], Source, environment);
        Assert.True(migrate.ExitCode == 0, migrate.Combined);
        Assert.Contains("applied 1 migration(s)", migrate.Output);
        var again = ProcessRun.Run("/usr/bin/python3", ["-m", "notes", "migrate"], Source, environment);
        Assert.Contains("applied 0 migration(s)", again.Output);

        _port = Ports.Free();
        _gunicorn = new ExternalProcess("/usr/bin/python3", ["-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", $"127.0.0.1:{_port}", "--workers", "2"], Source, environment);
        await Ports.WaitUntilListeningAsync(_port, TimeSpan.FromSeconds(30), () => _gunicorn.Output);
    }

    public async Task DisposeAsync()
    {
        await _gunicorn.DisposeAsync();
        _secrets.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private async Task<JsonElement> WhoAmIAsync(SidecarProcess sidecar)
    {
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/whoami");
        request.Headers.Host = "notes.example.com";
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-For", "203.0.113.9");
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    [Fact]
    public async Task Behind_a_trusted_hop_flask_sees_https_and_the_public_host()
    {
        await using var sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{_port}"));

        var facts = await WhoAmIAsync(sidecar);

        Assert.True(facts.GetProperty("is_secure").GetBoolean());
        Assert.Equal("https://notes.example.com/", facts.GetProperty("url").GetString());
        // One hop: ProxyFix takes the address the sidecar appended (the peer it saw), not the client's claim.
        Assert.Equal("127.0.0.1", facts.GetProperty("remote_addr").GetString());
    }

    [Fact]
    public async Task From_an_untrusted_peer_forwarded_headers_cannot_be_spoofed()
    {
        await using var sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{_port}"),
            new Dictionary<string, string> { ["SIDECAR_TRUSTED_NETWORKS"] = "10.0.0.0/8" });

        var facts = await WhoAmIAsync(sidecar);

        Assert.False(facts.GetProperty("is_secure").GetBoolean());
        Assert.Equal("http", facts.GetProperty("scheme").GetString());
        Assert.Equal("127.0.0.1", facts.GetProperty("remote_addr").GetString());
    }

    [Fact]
    public async Task Notes_and_static_files_work_through_the_sidecar()
    {
        await using var sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{_port}"),
            new Dictionary<string, string>
            {
                ["SIDECAR_STATIC_ROOT"] = Path.Combine(Source, "notes", "static"),
                ["SIDECAR_STATIC_URL"] = "/static/",
            });
        using var client = new HttpClient { BaseAddress = sidecar.Address };

        var created = await client.PostAsync("/api/notes", new StringContent("from flask"));
        var listed = await client.GetStringAsync("/api/notes");
        var css = await client.GetAsync("/static/app.css");

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Contains("from flask", listed);
        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(Source, "notes", "static", "app.css")), await css.Content.ReadAsByteArrayAsync());
    }
}
