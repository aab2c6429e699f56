using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Sidecar.Configuration;
using Sidecar.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Sidecar.Tests.Configuration;

/// <summary>Reloads never cost a request: 100 of them, alternating valid and broken, under steady load.</summary>
public sealed class ReloadUnderLoadTests(ITestOutputHelper output)
{
    private const int Reloads = 100;
    private const int Clients = 4;

    [Fact]
    public async Task HundredReloadsAlternatingValidAndInvalidFailNoRequest()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", ConfigText.Versioned("v0"));
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json"),
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "20ms",
        });
        var status = sidecar.Services.GetRequiredService<ConfigReloadStatus>();
        var broken = BrokenConfigs.All;

        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var completed = 0;
        var load = Enumerable.Range(0, Clients).Select(_ => Task.Run(async () =>
        {
            using var client = sidecar.Client();
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await client.GetAsync("/hello");
                    var body = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode != HttpStatusCode.OK || body != "{\"hello\": \"world\"}" || !response.Headers.Contains("X-Config"))
                    {
                        lock (failures) failures.Add($"{(int)response.StatusCode} {body}");
                    }
                }
                catch (Exception e)
                {
                    lock (failures) failures.Add(e.GetType().Name + ": " + e.Message);
                }

                Interlocked.Increment(ref completed);
            }
        })).ToArray();

        using var probe = sidecar.Client();
        for (var i = 1; i <= Reloads; i++)
        {
            var before = (status.Applied, status.Rejected);
            if (i % 2 == 1)
            {
                var version = $"v{i}";
                volume.Write("sidecar.json", ConfigText.Versioned(version));
                await ConfigText.EventuallyAsync(() => status.Applied == before.Applied + 1, $"reload {i} ({version}) applied");
                // Behaviour, not only the counter: the very next request is routed by the new config.
                Assert.Equal(version, (await probe.GetAsync("/hello")).Headers.GetValues("X-Config").Single());
            }
            else
            {
                var bad = broken[i / 2 % broken.Count];
                volume.Write("sidecar.json", bad.Content);
                await ConfigText.EventuallyAsync(() => status.Rejected == before.Rejected + 1, $"reload {i} ({bad.Name}) rejected");
                Assert.Equal($"v{i - 1}", (await probe.GetAsync("/hello")).Headers.GetValues("X-Config").Single());
            }

            Assert.Equal(before.Applied + before.Rejected + 1, status.Applied + status.Rejected);
        }

        stop.Cancel();
        await Task.WhenAll(load);

        output.WriteLine($"{completed} requests from {Clients} clients during {Reloads} reloads ({status.Applied} applied, {status.Rejected} rejected), {failures.Count} failed");
        Assert.Empty(failures);
        Assert.Equal(Reloads / 2, status.Applied);
        Assert.Equal(Reloads / 2, status.Rejected);
        Assert.True(completed > Reloads, $"only {completed} requests ran during the reloads");
    }
}
