using System.Net;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Proxy;

public sealed class SmokeTests
{
    [Fact]
    public async Task ForwardsToGunicorn()
    {
        await using var gunicorn = await Gunicorn.StartAsync();
        using var sidecar = new SidecarFactory(gunicorn.Address);
        using var client = sidecar.Client();
        var response = await client.GetAsync("/hello");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{\"hello\": \"world\"}", await response.Content.ReadAsStringAsync());
    }
}
