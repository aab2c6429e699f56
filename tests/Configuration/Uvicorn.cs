using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Configuration;

/// <summary>Real uvicorn (Debian's, with the wsproto WebSocket implementation) serving tests/apps/asgiapp.py.</summary>
public sealed class Uvicorn : IAsyncDisposable
{
    private readonly ExternalProcess _process;

    private Uvicorn(ExternalProcess process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public Uri Address => new($"http://127.0.0.1:{Port}");

    public static async Task<Uvicorn> StartAsync()
    {
        var port = Ports.Free();
        var process = new ExternalProcess("uvicorn",
            ["--host", "127.0.0.1", "--port", port.ToString(), "--ws", "wsproto", "--lifespan", "off", "--no-access-log",
             "--app-dir", TestPaths.AppsDirectory, "asgiapp:app"]);
        var uvicorn = new Uvicorn(process, port);
        await Ports.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(20), () => process.Output);
        return uvicorn;
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
