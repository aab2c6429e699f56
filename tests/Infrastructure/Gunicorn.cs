using System.Net.Http.Json;
using System.Text.Json;

namespace Sidecar.Tests.Infrastructure;

/// <summary>
/// Real gunicorn with sync workers serving tests/apps/testapp.py on a free loopback port.
/// The app keeps its own counters (requests seen, peak concurrency) in a private state directory.
/// </summary>
public sealed class Gunicorn : IAsyncDisposable
{
    private readonly ExternalProcess _process;
    private readonly string _stateDirectory;

    private Gunicorn(ExternalProcess process, int port, string stateDirectory)
    {
        _process = process;
        Port = port;
        _stateDirectory = stateDirectory;
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public string Output => _process.Output;

    public static async Task<Gunicorn> StartAsync(int workers = 2, int? port = null, params string[] extraArguments)
    {
        var chosen = port ?? Ports.Free();
        var state = Directory.CreateTempSubdirectory("sidecar-testapp-").FullName;
        var process = new ExternalProcess("gunicorn",
            ["--bind", $"127.0.0.1:{chosen}", "--workers", workers.ToString(), "--worker-class", "sync", "--timeout", "30",
             "--chdir", TestPaths.AppsDirectory, .. extraArguments, "testapp:app"],
            environment: new Dictionary<string, string> { ["TESTAPP_STATE_DIR"] = state });
        var gunicorn = new Gunicorn(process, chosen, state);
        await Ports.WaitUntilListeningAsync(chosen, TimeSpan.FromSeconds(20), () => process.Output);
        return gunicorn;
    }

    /// <summary>How many requests reached the app (read from its state, not through a proxy).</summary>
    public int Seen() => ReadCounter("seen");

    /// <summary>The most requests the app had in progress at once.</summary>
    public int PeakConcurrency() => ReadCounter("peak");

    private int ReadCounter(string name)
    {
        var path = Path.Combine(_stateDirectory, name);
        var text = File.Exists(path) ? File.ReadAllText(path).Trim() : "";
        return text.Length == 0 ? 0 : int.Parse(text);
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        Directory.Delete(_stateDirectory, recursive: true);
    }
}
