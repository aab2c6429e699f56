using System.Net;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

/// <summary>ErrorPages: browsers get the page named by status, API clients keep the plain-text message.</summary>
public sealed class ErrorPagesTests : IDisposable
{
    private const string BadGatewayPage = "<!doctype html><title>Back soon</title><p>We are deploying; try again in a minute.</p>\n";
    private const string Browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    private readonly ScratchDirectory _pages = new("sidecar-error-pages-");

    public ErrorPagesTests()
    {
        File.WriteAllText(Path.Combine(_pages.Path, "502.html"), BadGatewayPage);
        File.WriteAllText(Path.Combine(_pages.Path, "413.html"), "<p>That file is too big.</p>");
    }

    public void Dispose() => _pages.Dispose();

    [Fact]
    public async Task ABrowserGetsThePageWithTheSameStatusAndAnApiClientTheMessage()
    {
        using var sidecar = Start();
        using var client = sidecar.Client();

        using var page = await client.SendAsync(Get("/", Browser));
        Assert.Equal(HttpStatusCode.BadGateway, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType?.ToString());
        Assert.Equal(BadGatewayPage, await page.Content.ReadAsStringAsync());
        Assert.Equal(BadGatewayPage.Length, page.Content.Headers.ContentLength);
        Assert.Single(page.Headers.GetValues("X-Request-ID"));

        using var api = await client.SendAsync(Get("/", "application/json"));
        Assert.Equal(HttpStatusCode.BadGateway, api.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", api.Content.Headers.ContentType?.ToString());
        Assert.StartsWith("502 Bad Gateway: ", await api.Content.ReadAsStringAsync());

        // q=0 means "not acceptable" (RFC 9110 §12.4.2).
        using var refusesHtml = await client.SendAsync(Get("/", "text/html;q=0, text/plain"));
        Assert.Equal("text/plain; charset=utf-8", refusesHtml.Content.Headers.ContentType?.ToString());
    }

    [Fact]
    public async Task EachStatusHasItsOwnPageAndOneWithoutAPageStaysPlainText()
    {
        using var sidecar = Start(new Dictionary<string, string> { ["SIDECAR_MAX_BODY_SIZE"] = "1k" });
        using var client = sidecar.Client();

        var tooBig = Get("/upload", Browser, HttpMethod.Post);
        tooBig.Content = new ByteArrayContent(new byte[5000]);
        using var refused = await client.SendAsync(tooBig);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, refused.StatusCode);
        Assert.Equal("<p>That file is too big.</p>", await refused.Content.ReadAsStringAsync());

        File.Delete(Path.Combine(_pages.Path, "502.html"));
        using var plain = await client.SendAsync(Get("/", Browser));
        Assert.Equal(HttpStatusCode.BadGateway, plain.StatusCode);
        Assert.StartsWith("502 Bad Gateway: ", await plain.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnEditedPageIsServedWithoutAReload()
    {
        using var sidecar = Start();
        using var client = sidecar.Client();
        Assert.Equal(BadGatewayPage, await (await client.SendAsync(Get("/", Browser))).Content.ReadAsStringAsync());

        File.WriteAllText(Path.Combine(_pages.Path, "502.html"), "<p>new page</p>");

        Assert.Equal("<p>new page</p>", await (await client.SendAsync(Get("/", Browser))).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AMissingDirectoryIsNamedAtStartAndOnAReloadThatNamesIt()
    {
        using var config = new ScratchDirectory("sidecar-error-pages-config-");
        var file = Path.Combine(config.Path, "sidecar.json");
        await File.WriteAllTextAsync(file, """{ "Sidecar": { "ErrorPages": "/nonexistent/pages" } }""");
        var upstream = new Uri($"http://127.0.0.1:{Ports.Free()}");
        await using var sidecar = await SidecarProcess.StartAsync(upstream, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = file,
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "100ms",
        });
        await RequestBufferingTests.WaitUntil(() => sidecar.Output.Contains("Application started"), TimeSpan.FromSeconds(10));
        Assert.Contains("ErrorPages directory /nonexistent/pages does not exist; error answers stay plain text", sidecar.Output);

        // A reload to a directory without pages is applied (the answers stay correct) and says why no page will show.
        var empty = Path.Combine(config.Path, "pages");
        Directory.CreateDirectory(empty);
        await File.WriteAllTextAsync(file, $$"""{ "Sidecar": { "ErrorPages": "{{empty}}" } }""");
        var warning = $"ErrorPages directory {empty} has no page named by status (such as 502.html); error answers stay plain text";
        await RequestBufferingTests.WaitUntil(() => sidecar.Output.Contains(warning), TimeSpan.FromSeconds(10));
        Assert.Contains("applied from", sidecar.Output);
    }

    /// <summary>The upstream is a closed port: every forwarded request gets the sidecar's own 502.</summary>
    private SidecarFactory Start(Dictionary<string, string>? settings = null)
    {
        settings ??= [];
        settings["SIDECAR_ERROR_PAGES"] = _pages.Path;
        return new SidecarFactory(new Uri($"http://127.0.0.1:{Ports.Free()}"), settings);
    }

    private static HttpRequestMessage Get(string path, string accept, HttpMethod? method = null)
    {
        var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        request.Headers.TryAddWithoutValidation("Accept", accept);
        return request;
    }
}
