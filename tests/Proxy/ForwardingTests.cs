using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>What the app sees of the original request, and what the client sees when the upstream fails.</summary>
public sealed class ForwardingTests : IAsyncLifetime
{
    private Gunicorn _gunicorn = null!;

    public async Task InitializeAsync() => _gunicorn = await Gunicorn.StartAsync(workers: 2);

    public async Task DisposeAsync() => await _gunicorn.DisposeAsync();

    private static async Task<JsonElement> HeadersSeenByAppAsync(SidecarFactory sidecar, Action<HttpRequestMessage>? prepare = null)
    {
        using var client = sidecar.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/headers");
        request.Headers.Host = "shop.example.com";
        prepare?.Invoke(request);
        var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static string? Header(JsonElement headers, string name) =>
        headers.TryGetProperty(name, out var value) ? value.GetString() : null;

    [Fact]
    public async Task OriginalHostReachesTheApp()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        var headers = await HeadersSeenByAppAsync(sidecar);
        Assert.Equal("shop.example.com", Header(headers, "Host"));
        Assert.Equal("shop.example.com", Header(headers, "X-Forwarded-Host"));
        Assert.Equal("http", Header(headers, "X-Forwarded-Proto"));
        Assert.Equal("127.0.0.1", Header(headers, "X-Forwarded-For"));
    }

    [Fact]
    public async Task TrustedPeerKeepsItsForwardedHeadersAndIsAppendedToTheChain()
    {
        // The default trusts loopback, which is where this test's client connects from: it plays the ingress.
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        var headers = await HeadersSeenByAppAsync(sidecar, request =>
        {
            request.Headers.Add("X-Forwarded-For", "203.0.113.9");
            request.Headers.Add("X-Forwarded-Proto", "https");
            request.Headers.Add("X-Forwarded-Host", "www.example.com");
            request.Headers.Add("X-Forwarded-Port", "443");
            request.Headers.Add("X-Real-IP", "203.0.113.9");
        });
        Assert.Equal("203.0.113.9, 127.0.0.1", Header(headers, "X-Forwarded-For"));
        Assert.Equal("https", Header(headers, "X-Forwarded-Proto"));
        Assert.Equal("www.example.com", Header(headers, "X-Forwarded-Host"));
        Assert.Equal("443", Header(headers, "X-Forwarded-Port"));
        Assert.Equal("203.0.113.9", Header(headers, "X-Real-Ip"));
    }

    [Fact]
    public async Task UntrustedPeerCannotSpoofForwardedHeaders()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_TRUSTED_NETWORKS"] = "10.0.0.0/8" });
        var headers = await HeadersSeenByAppAsync(sidecar, request =>
        {
            request.Headers.Add("X-Forwarded-For", "203.0.113.9");
            request.Headers.Add("X-Forwarded-Proto", "https");
            request.Headers.Add("X-Forwarded-Host", "evil.example");
            request.Headers.Add("Forwarded", "for=1.2.3.4;proto=https");
            // Read by Django's USE_X_FORWARDED_PORT, Werkzeug's ProxyFix, gunicorn's secure_scheme_headers, and apps.
            request.Headers.Add("X-Forwarded-Port", "443");
            request.Headers.Add("X-Forwarded-Prefix", "/admin");
            request.Headers.Add("X-Forwarded-Ssl", "on");
            request.Headers.Add("X-Real-IP", "203.0.113.9");
        });
        Assert.Equal("127.0.0.1", Header(headers, "X-Forwarded-For"));
        Assert.Equal("http", Header(headers, "X-Forwarded-Proto"));
        Assert.Equal("shop.example.com", Header(headers, "X-Forwarded-Host"));
        Assert.Null(Header(headers, "Forwarded"));
        Assert.Null(Header(headers, "X-Forwarded-Port"));
        Assert.Null(Header(headers, "X-Forwarded-Prefix"));
        Assert.Null(Header(headers, "X-Forwarded-Ssl"));
        Assert.Null(Header(headers, "X-Real-Ip"));
    }

    [Fact]
    public async Task RequestIdIsGeneratedPassedUpstreamAndReturned()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var response = await client.GetAsync("/headers");
        var returned = response.Headers.GetValues("X-Request-ID").Single();
        var headers = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Matches("^[0-9a-f]{32}$", returned);
        Assert.Equal(returned, Header(headers, "X-Request-Id"));

        // Ids lead with their Unix milliseconds, so they sort by time in a log search.
        var millis = Convert.ToInt64(returned[..12], 16);
        Assert.InRange(millis, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var next = (await client.GetAsync("/hello")).Headers.GetValues("X-Request-ID").Single();
        Assert.NotEqual(returned, next);
    }

    [Fact]
    public async Task TraceContextIsTheClientsToSendAndPassesUntouched()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        const string parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        var traced = await HeadersSeenByAppAsync(sidecar, request =>
        {
            request.Headers.Add("traceparent", parent);
            request.Headers.Add("tracestate", "vendor=1");
        });
        var untraced = await HeadersSeenByAppAsync(sidecar);

        Assert.Equal(parent, Header(traced, "Traceparent"));
        Assert.Equal("vendor=1", Header(traced, "Tracestate"));
        Assert.Null(Header(untraced, "Traceparent"));
    }

    [Theory]
    [InlineData("abc-123", "abc-123")]
    [InlineData("has space", null)]
    public async Task ClientRequestIdIsKeptOnlyWhenSane(string sent, string? kept)
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        var headers = await HeadersSeenByAppAsync(sidecar, request => request.Headers.TryAddWithoutValidation("X-Request-ID", sent));
        var seen = Header(headers, "X-Request-Id");
        if (kept is null)
        {
            Assert.Matches("^[0-9a-f]{32}$", seen);
        }
        else
        {
            Assert.Equal(kept, seen);
        }
    }

    [Fact]
    public async Task RefusedUpstreamGives502WithAReason()
    {
        var nothingListens = new Uri($"http://127.0.0.1:{Ports.Free()}");
        using var sidecar = new SidecarFactory(nothingListens);
        using var client = sidecar.Client();

        var response = await client.GetAsync("/hello");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith("502 Bad Gateway: cannot reach upstream", text);
        Assert.Contains(nothingListens.Authority, text);
    }

    [Fact]
    public async Task WorkerDyingBeforeItAnswersGives502ThatSaysSoNotUnreachable()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);
        using var client = sidecar.Client();
        var seenBefore = _gunicorn.Seen();

        var response = await client.GetAsync("/die");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith($"502 Bad Gateway: upstream {_gunicorn.Address} closed the connection without answering", text);
        // Once: HttpClient retried a bodiless request whose connection ended before any answer, so the view ran four times.
        Assert.Equal(seenBefore + 1, _gunicorn.Seen());
    }

    [Fact]
    public async Task AnUpstreamThatResetsAfterReadingTheRequestFailedItWasNotUnreachable()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepted = 0;
        var resets = Task.Run(async () =>
        {
            while (true)
            {
                using var connection = await listener.AcceptTcpClientAsync();
                Interlocked.Increment(ref accepted);
                await connection.GetStream().ReadAsync(new byte[4096]);
                connection.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0); // close with RST
            }
        });
        using var sidecar = new SidecarFactory(new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}"));
        using var client = sidecar.Client();

        var response = await client.GetAsync("/reset");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("closed the connection without answering", await response.Content.ReadAsStringAsync());
        Assert.Equal(1, Volatile.Read(ref accepted));
        listener.Stop();
    }

    [Fact]
    public async Task UpstreamThatDoesNotSpeakHttpGives502ThatSaysSo()
    {
        // gunicorn always speaks HTTP; something else bound to its port (a debug server, a TLS listener) does not.
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var notHttp = Task.Run(async () =>
        {
            using var connection = await listener.AcceptTcpClientAsync();
            var stream = connection.GetStream();
            await stream.ReadAtLeastAsync(new byte[4096], 1);
            await stream.WriteAsync("SSH-2.0-OpenSSH_9.2\r\n\r\n"u8.ToArray());
        });
        var address = new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}");
        using var sidecar = new SidecarFactory(address);
        using var client = sidecar.Client();

        var response = await client.GetAsync("/hello");
        await notHttp;

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.StartsWith($"502 Bad Gateway: upstream {address} answered with something that is not HTTP/1.1", text);
        Assert.Contains("SSH-2.0", text);
    }

    [Fact]
    public async Task SilentUpstreamGives504()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_UPSTREAM_TIMEOUT"] = "1s" });
        using var client = sidecar.Client();

        var response = await client.GetAsync("/sleep?s=3");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.StartsWith("504 Gateway Timeout: upstream", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task KeepAliveUpstreamClosingIdleConnectionsCausesNo502()
    {
        // gthread workers keep connections alive for 2 s and then close them: the classic pooled-connection race.
        await using var gthread = await Gunicorn.StartAsync(1, null, "--worker-class", "gthread", "--threads", "2", "--keep-alive", "2");
        using var sidecar = new SidecarFactory(gthread.Address);
        using var client = sidecar.Client();
        foreach (var pause in new[] { 1.9, 2.0, 2.1, 1.95, 2.05 })
        {
            var response = await client.GetAsync("/hello");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await Task.Delay(TimeSpan.FromSeconds(pause));
        }
    }

    [Fact]
    public async Task A204ThatDeclaresContentIsForwardedAsAPlain204AndTheCauseIsLogged()
    {
        await using var sidecar = await SidecarProcess.StartAsync(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_ACCESS_LOG"] = "off" });

        // Two requests on one connection: the second proves the first left no stray bytes behind.
        var exchange = await RawHttp.ExchangeAsync(sidecar.Port,
            "GET /status/204?body=stray HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.Equal(204, RawHttp.Status(exchange));
        var second = exchange.IndexOf("HTTP/1.1 200", StringComparison.Ordinal);
        Assert.True(second > 0, "no answer to the request after the 204:\n" + exchange);
        var first = exchange[..second];
        Assert.DoesNotContain("Content-Length", first, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("stray", exchange);
        await RequestBufferingTests.WaitUntil(() => sidecar.Output.Contains("on a 204"), TimeSpan.FromSeconds(5));
        Assert.Contains("204 GET /status/204: the upstream declared Content-Length: 5 on a 204", sidecar.Output);
    }

    [Fact]
    public async Task HeaderBytesAbove0x7FReachTheAppUnchanged()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);

        // A UTF-8 filename as upload libraries send it, and a lone latin-1 byte; RawHttp writes each char as one byte.
        var exchange = await RawHttp.ExchangeAsync(sidecar.Port,
            "GET /headers HTTP/1.1\r\nHost: x\r\nX-File-Name: caf\u00c3\u00a9.txt\r\nX-Latin: caf\u00e9\r\nConnection: close\r\n\r\n");

        Assert.Equal(200, RawHttp.Status(exchange));
        var seen = JsonDocument.Parse(RawHttp.Body(exchange)).RootElement;
        // WSGI hands header values to the app as latin-1 strings: one char per byte received.
        Assert.Equal("caf\u00c3\u00a9.txt", Header(seen, "X-File-Name"));
        Assert.Equal("caf\u00e9", Header(seen, "X-Latin"));
    }

    [Fact]
    public async Task HeaderBytesAbove0x7FReachTheClientUnchanged()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);

        var exchange = await RawHttp.ExchangeAsync(sidecar.Port, "GET /nonascii-headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        Assert.Equal(200, RawHttp.Status(exchange));
        Assert.Contains("Content-Disposition: attachment; filename=\"caf\u00e9.txt\"\r\n", exchange);
        Assert.Contains("X-Utf8-Name: caf\u00c3\u00a9\r\n", exchange);
    }

    [Fact]
    public async Task ANulInARequestHeaderIsStillRefused()
    {
        using var sidecar = new SidecarFactory(_gunicorn.Address);

        var exchange = await RawHttp.ExchangeAsync(sidecar.Port, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Bad: a\u0000b\r\nConnection: close\r\n\r\n");

        Assert.True(RawHttp.Status(exchange) == 400, exchange);
    }
}
