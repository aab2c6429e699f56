using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>Request-smuggling framings and oversized headers are refused by the sidecar and never reach gunicorn.</summary>
public sealed class RequestShapeTests : IAsyncLifetime
{
    private Gunicorn _gunicorn = null!;
    private SidecarFactory _sidecar = null!;

    public async Task InitializeAsync()
    {
        _gunicorn = await Gunicorn.StartAsync(workers: 1);
        _sidecar = new SidecarFactory(_gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_HEADER_TIMEOUT"] = "1s" });
    }

    public async Task DisposeAsync()
    {
        _sidecar.Dispose();
        await _gunicorn.DisposeAsync();
    }

    public static TheoryData<string, int> Smuggling() => new()
    {
        { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd", 400 },
        // Kestrel keeps the Content-Length under X-Content-Length; a Connection header naming it must not hide the conflict.
        { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: X-Content-Length\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\nabcd", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabcd", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\r\n Content-Length: 4\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabcd\r\n0\r\n\r\n", 400 },
        { "GET /hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400 },
        { "GET /hello HTTP/1.1\r\n\r\n", 400 },
        // gunicorn deletes tabs and CRs from the target, so the app would serve another path than the one routed.
        { "GET /hel\tlo HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "GET /hel\rlo HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "GET /hello?a=\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        // Kestrel decodes %2F in an absolute-form target without resolving the dot segments that appear.
        { "GET http://x/a%2F..%2Fhello HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "GET /hello HTTP/1.1\r\nHost:\r\n\r\n", 400 },
        { "GET /hello HTTP/1.1\r\nHost:   \r\n\r\n", 400 },
        // A name with a control character in it is no Content-Length to Kestrel, but is to a proxy in front that trims it.
        { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length\v: 40\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding\f: chunked\r\n\r\n0\r\n\r\n", 400 },
        { "GET /hello HTTP/1.1\r\nHost: x\r\nX-A(b): 1\r\n\r\n", 400 },
        { "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999999999\r\n\r\n", 400 },
    };

    [Theory]
    [MemberData(nameof(Smuggling))]
    public async Task AmbiguousFramingIsRefusedAndNeverForwarded(string request, int expected)
    {
        var seenBefore = _gunicorn.Seen();
        // Refusals close the connection, so the wait ends early; the generous quiet period only matters on a loaded machine.
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, request, TimeSpan.FromSeconds(5));
        Assert.Equal(expected, RawHttp.Status(response));
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task HeaderNamesWithUnderscoresAreDroppedSoTheyCannotPassForForwardedHeaders()
    {
        // WSGI folds '-' and '_' into one name and gunicorn joins the values: without the drop, Django's
        // SECURE_PROXY_SSL_HEADER read "https" from an untrusted client, ahead of the sidecar's own "http".
        var response = await RawHttp.ExchangeAsync(_sidecar.Port,
            "GET /headers HTTP/1.1\r\nHost: a.example\r\nX-Forwarded_Proto: https\r\nX_FORWARDED_FOR: 9.9.9.9\r\n" +
            "X_Forwarded_Host: evil.example\r\nX_Custom: 1\r\nX-Custom-Kept: 2\r\nConnection: close\r\n\r\n");

        Assert.Equal(200, RawHttp.Status(response));
        var headers = System.Text.Json.JsonDocument.Parse(RawHttp.Body(response)).RootElement;
        Assert.Equal("http", headers.GetProperty("X-Forwarded-Proto").GetString());
        Assert.Equal("127.0.0.1", headers.GetProperty("X-Forwarded-For").GetString());
        Assert.Equal("a.example", headers.GetProperty("X-Forwarded-Host").GetString());
        Assert.False(headers.TryGetProperty("X-Custom", out _));
        Assert.Equal("2", headers.GetProperty("X-Custom-Kept").GetString());
    }

    /// <summary>The target reaches the app as the client sent it, as through nginx; YARP's System.Uri rewrote escapes it found invalid or needless.</summary>
    [Theory]
    [InlineData("/raw/a%252Fb", "/raw/a%252Fb", "/raw/a%2Fb")]
    [InlineData("/raw/a%ZZ?x=%zz&y=1", "/raw/a%ZZ?x=%zz&y=1", "/raw/a%ZZ")]
    [InlineData("/raw/a%7Eb", "/raw/a%7Eb", "/raw/a~b")]
    // WSGI hands the decoded UTF-8 bytes over as latin-1 characters (PEP 3333).
    [InlineData("/raw/caf%C3%A9?q=a+b", "/raw/caf%C3%A9?q=a+b", "/raw/caf\u00c3\u00a9")]
    // What the app would read as another path than the sidecar routed goes as the path that was routed: dot segments
    // resolved; an encoded slash kept in its segment (gunicorn would split it, past a route on the path's prefix);
    // a '#' kept in the path (gunicorn would drop it, past a route on the exact path).
    [InlineData("/raw/x/../y/%2e%2E/b", "/raw/b", "/raw/b")]
    [InlineData("/raw/a%2Fb", "/raw/a%252Fb", "/raw/a%2Fb")]
    [InlineData("/raw/a#b", "/raw/a%23b", "/raw/a#b")]
    public async Task TheTargetReachesTheAppAsTheClientWroteIt(string target, string rawUri, string path)
    {
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, $"GET {target} HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n");

        Assert.Equal(200, RawHttp.Status(response));
        var seen = System.Text.Json.JsonDocument.Parse(RawHttp.Body(response)).RootElement;
        Assert.Equal(rawUri, seen.GetProperty("raw_uri").GetString());
        Assert.Equal(path, seen.GetProperty("path").GetString());
    }

    [Theory]
    [InlineData("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "CONNECT")]
    [InlineData("TRACE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "TRACE")]
    public async Task TunnelAndTraceRequestsGet405NotAnUpstreamFailure(string request, string method)
    {
        var seenBefore = _gunicorn.Seen();
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, request, TimeSpan.FromSeconds(5));
        Assert.Equal(405, RawHttp.Status(response));
        Assert.Contains($"does not pass {method} requests on", response);
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Theory]
    [InlineData("head", "HEAD")]
    [InlineData("Get", "GET")]
    [InlineData("post", "POST")]
    public async Task MethodsInLowerCaseAreRefusedNotAnsweredWithA500(string method, string capitals)
    {
        var seenBefore = _gunicorn.Seen();
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, $"{method} /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.Equal(400, RawHttp.Status(response));
        Assert.Contains($"send {capitals}, not {method}", response);
        Assert.Equal(seenBefore, _gunicorn.Seen());
    }

    [Fact]
    public async Task AsteriskOptionsIsRefusedRatherThanForwardedAsTheHomePage()
    {
        var seenBefore = _gunicorn.Seen();
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.Equal(400, RawHttp.Status(response));
        Assert.Contains("OPTIONS * asks about the server as a whole", response);
        Assert.Equal(seenBefore, _gunicorn.Seen());

        // OPTIONS on a path is the app's to answer (CORS preflights).
        var preflight = await RawHttp.ExchangeAsync(_sidecar.Port, "OPTIONS /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.Equal(seenBefore + 1, _gunicorn.Seen());
        Assert.Equal(200, RawHttp.Status(preflight));
    }

    [Fact]
    public async Task WellFormedChunkedRequestStillWorks()
    {
        var response = await RawHttp.ExchangeAsync(_sidecar.Port,
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n0\r\n\r\n", TimeSpan.FromSeconds(5));
        Assert.Equal(200, RawHttp.Status(response));
        Assert.Contains("\"length\": 4", response);
    }

    [Fact]
    public async Task TooManyHeadersGive431()
    {
        var headers = string.Concat(Enumerable.Range(0, 120).Select(i => $"X-H{i}: v\r\n"));
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, $"GET /hello HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
        Assert.Equal(431, RawHttp.Status(response));
    }

    [Fact]
    public async Task OversizedHeadersGive431()
    {
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, $"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 40_000)}\r\n\r\n");
        Assert.Equal(431, RawHttp.Status(response));
    }

    [Fact]
    public async Task OverlongRequestLineGives414()
    {
        var response = await RawHttp.ExchangeAsync(_sidecar.Port, $"GET /hello?{new string('a', 9000)} HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal(414, RawHttp.Status(response));
    }

    [Fact]
    public async Task SlowHeadersTimeOutWith408()
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, _sidecar.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("GET /hello HTTP/1.1\r\nHost: x\r\n"u8.ToArray());
        var response = await RawHttp.ReadUntilQuietAsync(stream, TimeSpan.FromSeconds(5));
        Assert.Equal(408, RawHttp.Status(response));
    }
}
