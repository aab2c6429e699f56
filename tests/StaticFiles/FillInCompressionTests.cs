using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Sidecar.StaticFiles;
using static Sidecar.Tests.StaticFiles.StaticHttp;

namespace Sidecar.Tests.StaticFiles;

/// <summary>Plain ManifestStaticFilesStorage output (no .br/.gz): the sidecar compresses at start-up into its cache directory.</summary>
public sealed class FillInCompressionTests(PlainStatic fixture) : IClassFixture<PlainStatic>
{
    private async Task<HttpClient> ReadyClient()
    {
        var client = fixture.Sidecar.Client();
        await fixture.Sidecar.Services.GetRequiredService<StaticFileService>().FillInCompleted.WaitAsync(TimeSpan.FromMinutes(2));
        return client;
    }

    [Fact]
    public async Task FilesWithoutSiblingsGainVariantsThatDecodeToTheOriginal()
    {
        Assert.DoesNotContain(fixture.Files(), f => f.EndsWith(".br") || f.EndsWith(".gz"));
        using var client = await ReadyClient();
        var compressed = 0;
        foreach (var name in fixture.Manifest.Values)
        {
            var original = fixture.Bytes(name);
            foreach (var coding in new[] { "br", "gzip" })
            {
                using var response = await client.SendAsync(Get("/static/" + name, ("Accept-Encoding", coding)));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(original, await DecodedBody(response));
                var encoding = Header(response, "Content-Encoding");
                if (encoding.Length > 0)
                {
                    Assert.Equal(coding, encoding);
                    Assert.Equal("Accept-Encoding", Header(response, "Vary"));
                    // Kept only when it saves at least 5%.
                    Assert.True(response.Content.Headers.ContentLength * 100 <= original.Length * 95);
                    compressed++;
                }
            }
        }

        Assert.True(compressed > 100, $"only {compressed} compressed responses");
        Assert.NotEmpty(Directory.EnumerateFiles(fixture.CompressDirectory, "*.br"));
    }

    [Theory]
    [InlineData("fonts/font.woff2")]
    [InlineData("img/photo.avif")]
    [InlineData("tiny.txt")]
    public async Task IncompressibleFilesStayIdentityWithoutVary(string original)
    {
        using var client = await ReadyClient();
        using var response = await client.SendAsync(Get("/static/" + fixture.Hashed(original), ("Accept-Encoding", "br, gzip")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("", Header(response, "Content-Encoding"));
        Assert.Equal("", Header(response, "Vary"));
        Assert.Equal(fixture.Bytes(fixture.Hashed(original)), await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task ImmutabilityDoesNotDependOnWhiteNoise()
    {
        using var client = await ReadyClient();
        using var response = await client.SendAsync(Get("/static/" + fixture.Hashed("admin/css/base.css"), ("Accept-Encoding", "br")));
        Assert.Equal("public, max-age=31536000, immutable", Header(response, "Cache-Control"));
        Assert.Equal("br", Header(response, "Content-Encoding"));
    }
}
