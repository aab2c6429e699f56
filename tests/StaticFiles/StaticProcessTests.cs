using System.Net;
using System.Text.Json;
using Sidecar.Tests.Infrastructure;
using static Sidecar.Tests.StaticFiles.StaticHttp;

namespace Sidecar.Tests.StaticFiles;

/// <summary>The built sidecar as its own process, serving the collected tree: what operators see in the access log.</summary>
public sealed partial class CompressedCollectstaticTests
{
    [Fact]
    public async Task TheRealProcessServesStaticFilesAndLogsThemAsStatic()
    {
        await using var sidecar = await SidecarProcess.StartAsync(new Uri("http://127.0.0.1:1"), fixture.Settings(("SIDECAR_ACCESS_LOG", "on")));
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        var name = fixture.Hashed("css/app.css");
        using var response = await client.SendAsync(Get("/static/" + name, ("Accept-Encoding", "br"), ("X-Request-ID", "static-log-1")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(fixture.Bytes(name), await DecodedBody(response));

        string? line = null;
        for (var i = 0; i < 100 && line is null; i++)
        {
            line = sidecar.Output.Split('\n').FirstOrDefault(l => l.StartsWith('{') && l.Contains("\"static-log-1\""));
            if (line is null)
            {
                await Task.Delay(50);
            }
        }

        Assert.True(line is not null, "no access log line; output was:\n" + sidecar.Output);
        using var log = JsonDocument.Parse(line);
        var root = log.RootElement;
        Assert.Equal("static", root.GetProperty("route").GetString());
        Assert.Equal("static", root.GetProperty("static_mount").GetString());
        Assert.Equal("br", root.GetProperty("static_encoding").GetString());
        Assert.Equal(fixture.Bytes(name + ".br").Length, root.GetProperty("bytes_out").GetInt64());
        Assert.Equal(200, root.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task StaticHitsCanBeLeftOutOfTheAccessLog()
    {
        await using var sidecar = await SidecarProcess.StartAsync(new Uri("http://127.0.0.1:1"),
            fixture.Settings(("SIDECAR_ACCESS_LOG", "on"), ("SIDECAR_STATIC_ACCESS_LOG", "off")));
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        using (await client.SendAsync(Get("/static/" + fixture.Hashed("css/app.css"), ("X-Request-ID", "static-quiet-1")))) { }
        // A proxied request (502 from the closed upstream) is still logged; it is written after the static one.
        using (await client.SendAsync(Get("/app", ("X-Request-ID", "proxied-loud-1")))) { }
        for (var i = 0; i < 100 && !sidecar.Output.Contains("\"proxied-loud-1\""); i++)
        {
            await Task.Delay(50);
        }

        Assert.Contains("\"proxied-loud-1\"", sidecar.Output);
        Assert.DoesNotContain("\"static-quiet-1\"", sidecar.Output);
    }
}
