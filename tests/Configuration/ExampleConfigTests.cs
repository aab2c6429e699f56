using System.Net;
using System.Net.WebSockets;
using System.Text;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Configuration;

/// <summary>
/// The example configs under deploy/examples, shown in the README, run for real: only the destination ports are
/// swapped for free ones (and the sidecar's own ports come from the environment, which overrides the file).
/// </summary>
public sealed class ExampleConfigTests
{
    [Fact]
    public async Task StaticFilesComeFromDiskAndEverythingElseFromGunicorn()
    {
        var staticRoot = Directory.CreateTempSubdirectory("sidecar-collectstatic-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(staticRoot, "css"));
            await File.WriteAllTextAsync(Path.Combine(staticRoot, "css", "site.css"), "body { color: #123456; }\n");
            await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
            using var example = Example.Load("gunicorn-static.json", ("/app/staticfiles", staticRoot));
            using var sidecar = new SidecarFactory(gunicorn.Address, example.Settings);
            using var client = sidecar.Client();

            var seen = gunicorn.Seen();
            var css = await client.GetAsync("/static/css/site.css");
            Assert.Equal(HttpStatusCode.OK, css.StatusCode);
            Assert.Equal("body { color: #123456; }\n", await css.Content.ReadAsStringAsync());
            Assert.Equal(seen, gunicorn.Seen());

            Assert.Equal("{\"hello\": \"world\"}", await client.GetStringAsync("/hello"));
            Assert.Equal(seen + 1, gunicorn.Seen());

            // Moving the mount is a hot reload too: the file is rewritten, the catalog follows.
            await File.WriteAllTextAsync(example.Settings["SIDECAR_CONFIG"],
                File.ReadAllText(example.Settings["SIDECAR_CONFIG"]).Replace("\"/static/\"", "\"/assets/\""));
            await ConfigText.EventuallyAsync(async () => (await client.GetAsync("/assets/css/site.css")).StatusCode == HttpStatusCode.OK,
                "the static mount moved to /assets/ by a reload");
        }
        finally
        {
            Directory.Delete(staticRoot, recursive: true);
        }
    }

    [Fact]
    public async Task WebSocketsReachUvicornThroughTheWsRoute()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        await using var uvicorn = await Uvicorn.StartAsync();
        using var example = Example.Load("websockets-asgi.json", ("http://127.0.0.1:8001", uvicorn.Address.ToString().TrimEnd('/')));
        using var sidecar = new SidecarFactory(gunicorn.Address, example.Settings);

        using var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{sidecar.Port}/ws/echo"), CancellationToken.None);
        foreach (var message in new[] { "hello", new string('x', 100_000) })
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes(message), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
            Assert.Equal(message, await ReceiveTextAsync(socket));
        }

        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        using var client = sidecar.Client();
        Assert.Equal("{\"hello\": \"world\"}", await client.GetStringAsync("/hello"));
        Assert.Contains("\"server\": \"asgi\"", await client.GetStringAsync("/ws/plain"));
    }

    [Fact]
    public async Task TheUploadRouteTakes200MegabytesWhileTheRestKeeps10()
    {
        await using var run = await Run.StartAsync("uploads.json");
        var (gunicorn, client) = (run.Gunicorn, run.Client);
        var body = new byte[25 << 20];
        Random.Shared.NextBytes(body);

        var upload = await client.PostAsync("/api/upload", new ByteArrayContent(body));
        Assert.Equal(HttpStatusCode.OK, upload.StatusCode);
        Assert.Contains($"\"length\": {body.Length}", await upload.Content.ReadAsStringAsync());

        // As curl does for large bodies, ask first: the 413 then arrives before the 25 MB are sent (without it the
        // sidecar still answers 413, but closes the connection while the client is still writing).
        var seen = gunicorn.Seen();
        using var tooLarge = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(body) };
        tooLarge.Headers.ExpectContinue = true;
        var elsewhere = await client.SendAsync(tooLarge);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, elsewhere.StatusCode);
        Assert.Equal(seen, gunicorn.Seen());

        var underTen = await client.PostAsync("/echo", new ByteArrayContent(new byte[9 << 20]));
        Assert.Equal(HttpStatusCode.OK, underTen.StatusCode);
    }

    [Fact]
    public async Task ServerSentEventsArriveWhileTheStreamIsOpen()
    {
        await using var run = await Run.StartAsync("server-sent-events.json");
        var client = run.Client;
        var signal = Path.Combine(run.Example.Directory, "release-last-event");

        using var response = await client.GetAsync($"/events/feed?until={Uri.EscapeDataString(signal)}", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        // The app holds the stream open until the signal exists, so this line can only arrive by streaming.
        Assert.Equal("data: first", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(File.Exists(signal));
        await File.WriteAllTextAsync(signal, "");
        Assert.Equal("", await reader.ReadLineAsync());
        Assert.Equal("data: last", await reader.ReadLineAsync());
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        return Encoding.UTF8.GetString(message.ToArray());
    }

    /// <summary>gunicorn and a sidecar running an example that needs nothing else.</summary>
    private sealed class Run : IAsyncDisposable
    {
        private Run(Gunicorn gunicorn, Example example, SidecarFactory sidecar)
        {
            (Gunicorn, Example, Sidecar) = (gunicorn, example, sidecar);
            Client = sidecar.Client();
        }

        public Gunicorn Gunicorn { get; }

        public Example Example { get; }

        public SidecarFactory Sidecar { get; }

        public HttpClient Client { get; }

        public static async Task<Run> StartAsync(string name)
        {
            var gunicorn = await Gunicorn.StartAsync(workers: 1);
            var example = Example.Load(name);
            return new Run(gunicorn, example, new SidecarFactory(gunicorn.Address, example.Settings));
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Sidecar.DisposeAsync();
            Example.Dispose();
            await Gunicorn.DisposeAsync();
        }
    }

    /// <summary>An example config copied to a temp directory with its destinations pointed at the test's servers.</summary>
    private sealed class Example : IDisposable
    {
        private Example(string directory, string path)
        {
            Directory = directory;
            Settings = new Dictionary<string, string> { ["SIDECAR_CONFIG"] = path };
        }

        public string Directory { get; }

        public Dictionary<string, string> Settings { get; }

        public static Example Load(string name, params (string From, string To)[] replacements)
        {
            var text = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "deploy", "examples", name));
            foreach (var (from, to) in replacements)
            {
                Assert.Contains(from, text);
                text = text.Replace(from, to);
            }

            var directory = System.IO.Directory.CreateTempSubdirectory("sidecar-example-").FullName;
            var path = Path.Combine(directory, name);
            File.WriteAllText(path, text);
            return new Example(directory, path);
        }

        public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
    }
}
