using Sidecar.Configuration;

namespace Sidecar.Tests.Configuration;

public sealed class UnitsTests
{
    [Theory]
    [InlineData("0", 0)]
    [InlineData("1048576", 1048576)]
    [InlineData("512k", 512 * 1024)]
    [InlineData("10m", 10L << 20)]
    [InlineData("10M", 10L << 20)]
    [InlineData("1g", 1L << 30)]
    [InlineData(" 64k ", 64 * 1024)]
    public void SizesAreNginxStyle(string text, long bytes) => Assert.Equal(bytes, Units.ParseSize(text));

    [Theory]
    [InlineData("")]
    [InlineData("10mb")]
    [InlineData("-1")]
    [InlineData("1.5m")]
    [InlineData("ten")]
    [InlineData("99999999999999999999g")]
    public void NonsenseSizesAreRefusedWithTheAcceptedForms(string text)
    {
        var error = Assert.Throws<FormatException>(() => Units.ParseSize(text));
        Assert.Contains("10m", error.Message);
    }

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("30s", 30_000)]
    [InlineData("30", 30_000)]
    [InlineData("1.5s", 1500)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    public void DurationsTakeUnits(string text, double milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), Units.ParseDuration(text));

    [Theory]
    [InlineData("soon")]
    [InlineData("5 minutes")]
    [InlineData("-5s")]
    [InlineData("")]
    public void NonsenseDurationsAreRefused(string text) =>
        Assert.Contains("30s", Assert.Throws<FormatException>(() => Units.ParseDuration(text)).Message);

    [Fact]
    public void ZeroConfigurationListensOn8080AndForwardsTo8000()
    {
        var config = ConfigLoader.Parse(null, null, _ => null);
        Assert.Equal(8080, config.Settings.Port);
        Assert.Equal(9901, config.Settings.AdminPort);
        Assert.Equal(new Uri("http://127.0.0.1:8000"), config.Settings.Upstream);
        Assert.Equal(10L << 20, config.Settings.MaxBodySize);
        var route = Assert.Single(config.Routes);
        Assert.Equal("/{**catch-all}", route.Match.Path);
        Assert.Equal("http://127.0.0.1:8000/", config.Clusters.Single().Destinations!.Values.Single().Address);
    }

    [Fact]
    public void EnvironmentOverridesFileOverridesDefault()
    {
        var file = """{ "Sidecar": { "MaxBodySize": "20m", "UpstreamTimeout": "45s" } }"""u8.ToArray();
        var config = ConfigLoader.Parse(file, "test.json", key => key == "SIDECAR_MAX_BODY_SIZE" ? "30m" : null);
        Assert.Equal(30L << 20, config.Settings.MaxBodySize);
        Assert.Equal(TimeSpan.FromSeconds(45), config.Settings.UpstreamTimeout);
        Assert.Equal(TimeSpan.FromSeconds(5), config.Settings.UpstreamConnectTimeout);
    }
}
