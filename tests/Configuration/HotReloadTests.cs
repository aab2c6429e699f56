using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Sidecar.Configuration;
using Sidecar.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Sidecar.Tests.Configuration;

/// <summary>Hot reload from a ConfigMap volume and from a plainly edited file, against real gunicorn.</summary>
public sealed class HotReloadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AKubeletSymlinkSwapChangesRoutingWithinSeconds()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", ConfigText.Versioned("v1"));
        var firstPayload = volume.CurrentPayloadDirectory!;
        // The default poll interval: this is the delay a user gets.
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json") });
        var status = sidecar.Services.GetRequiredService<ConfigReloadStatus>();
        using var client = sidecar.Client();
        Assert.Equal("v1", (await client.GetAsync("/hello")).Headers.GetValues("X-Config").Single());
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/moved/hello")).StatusCode); // the app has no /moved/hello

        // v2 adds a route that strips /moved, so /moved/hello reaches the app's /hello only once v2 is in force.
        volume.Write("sidecar.json", ConfigText.Versioned("v2", """
            "moved": {
              "ClusterId": "upstream",
              "Match": { "Path": "/moved/{**rest}" },
              "Transforms": [ { "PathRemovePrefix": "/moved" }, { "ResponseHeader": "X-Config", "Set": "v2-moved" } ]
            },
            """));
        Assert.False(Directory.Exists(firstPayload), "the writer removes the old payload directory, as the kubelet does");
        var took = await ConfigText.EventuallyAsync(async () =>
        {
            var response = await client.GetAsync("/moved/hello");
            return response.StatusCode == HttpStatusCode.OK && response.Headers.GetValues("X-Config").Single() == "v2-moved";
        }, "the v2 route /moved/ in force");
        output.WriteLine($"routing changed {took.TotalSeconds:0.0} s after the ..data swap (ConfigPollInterval 2s)");
        Assert.True(took < TimeSpan.FromSeconds(10), $"took {took}");
        Assert.Equal("v2", (await client.GetAsync("/hello")).Headers.GetValues("X-Config").Single());
        Assert.Equal(1, status.Applied);
        Assert.Equal(0, status.Rejected);

        // A broken payload swapped in the same way is refused; v2 stays.
        volume.Write("sidecar.json", "{ \"ReverseProxy\": { \"Routes\": { } } }");
        await ConfigText.EventuallyAsync(() => status.Rejected == 1, "the empty routing table rejected");
        Assert.Equal("v2-moved", (await client.GetAsync("/moved/hello")).Headers.GetValues("X-Config").Single());
        Assert.Equal(1, status.Applied);
    }

    /// <summary>A cluster's destination moves to another gunicorn; requests follow without a failure.</summary>
    [Fact]
    public async Task AClusterCanMoveToAnotherUpstream()
    {
        await using var first = await Gunicorn.StartAsync(workers: 1);
        await using var second = await Gunicorn.StartAsync(workers: 1);
        static string Pointing(Gunicorn to) => $$"""
            { "ReverseProxy": {
                "Routes": { "app": { "ClusterId": "app", "Match": { "Path": "/{**catch-all}" } } },
                "Clusters": { "app": { "Destinations": { "gunicorn": { "Address": "{{to.Address}}" } } } } } }
            """;
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", Pointing(first));
        using var sidecar = new SidecarFactory(first.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json"),
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "100ms",
        });
        var status = sidecar.Services.GetRequiredService<ConfigReloadStatus>();
        using var client = sidecar.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hello")).StatusCode);
        Assert.Equal(1, first.Seen());

        volume.Write("sidecar.json", Pointing(second));
        await ConfigText.EventuallyAsync(() => status.Applied == 1, "the move applied");
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/hello")).StatusCode);
        }

        Assert.Equal(1, first.Seen());
        Assert.Equal(5, second.Seen());
    }

    [Fact]
    public async Task PlainEditsInPlaceAreSeenAndAHalfWrittenFileIsRejected()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        var directory = Directory.CreateTempSubdirectory("sidecar-edit-").FullName;
        try
        {
            var path = Path.Combine(directory, "sidecar.json");
            await File.WriteAllTextAsync(path, ConfigText.Versioned("v1"));
            using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
            {
                ["SIDECAR_CONFIG"] = path,
                ["SIDECAR_CONFIG_POLL_INTERVAL"] = "100ms",
            });
            var status = sidecar.Services.GetRequiredService<ConfigReloadStatus>();
            var reloader = sidecar.Services.GetRequiredService<ConfigReloader>();
            using var client = sidecar.Client();

            // An editor or a copy caught halfway: the file in place holds only the first part of v2.
            var v2 = ConfigText.Versioned("v2");
            await using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
            {
                stream.SetLength(0);
                await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(v2[..(v2.Length / 2)]));
            }

            await ConfigText.EventuallyAsync(() => status.Rejected == 1, "the half-written file rejected");
            Assert.Equal("v1", (await client.GetAsync("/hello")).Headers.GetValues("X-Config").Single());

            await File.WriteAllTextAsync(path, v2);
            await ConfigText.EventuallyAsync(() => status.Applied == 1, "the completed file applied");
            Assert.Equal("v2", (await client.GetAsync("/hello")).Headers.GetValues("X-Config").Single());
            Assert.Equal(ConfigReloader.Outcome.Unchanged, await reloader.CheckAsync());

            // A deleted file is not a request to fall back to defaults.
            File.Delete(path);
            await ConfigText.EventuallyAsync(() => status.Rejected == 2, "the missing file rejected");
            Assert.Equal("v2", (await client.GetAsync("/hello")).Headers.GetValues("X-Config").Single());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task RestartOnlySettingsKeepTheirRunningValuesWhileTheRestIsApplied()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", """{ "Sidecar": { "MaxBodySize": "1m", "MaxHeaderCount": "100" } }""");
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json"),
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "100ms",
        });
        var status = sidecar.Services.GetRequiredService<ConfigReloadStatus>();
        var holder = sidecar.Services.GetRequiredService<ConfigHolder>();
        using var client = sidecar.Client();
        var twoMegabytes = new byte[2 << 20];
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await client.PostAsync("/echo", new ByteArrayContent(twoMegabytes))).StatusCode);

        volume.Write("sidecar.json", """{ "Sidecar": { "MaxBodySize": "4m", "MaxHeaderCount": "50" } }""");
        await ConfigText.EventuallyAsync(() => status.Applied == 1, "the new config applied");

        Assert.Equal(1, status.RestartRequired);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/echo", new ByteArrayContent(twoMegabytes))).StatusCode);
        Assert.Equal(4L << 20, holder.Settings.MaxBodySize);
        Assert.Equal(100, holder.Settings.MaxHeaderCount);
    }

    /// <summary>A request keeps the config it started under: an upload and a stream in flight across a reload that would refuse them.</summary>
    [Fact]
    public async Task RequestsInFlightFinishUnderTheConfigTheyStartedWith()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        using var volume = new KubeletVolume();
        const string generous = """
            "upload": { "ClusterId": "upstream", "Match": { "Path": "/echo" }, "Metadata": { "Sidecar.MaxBodySize": "8m" },
                        "Transforms": [ { "ResponseHeader": "X-Config", "Set": "v1" } ] },
            "events": { "ClusterId": "upstream", "Match": { "Path": "/events/{**rest}" }, "Metadata": { "Sidecar.ResponseBuffering": "off" },
                        "Transforms": [ { "ResponseHeader": "X-Config", "Set": "v1" } ] },
            """;
        volume.Write("sidecar.json", ConfigText.Versioned("v1", generous));
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json"),
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "100ms",
            ["SIDECAR_MAX_BODY_SIZE"] = "1m",
        });
        var status = sidecar.Services.GetRequiredService<ConfigReloadStatus>();
        using var client = sidecar.Client();
        var signal = Path.Combine(volume.Directory, "release");

        // A stream and a 4 MB upload, both half done.
        using var stream = await client.GetAsync($"/events/x?until={Uri.EscapeDataString(signal)}", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        Assert.Equal("data: first", await reader.ReadLineAsync());
        var upload = new GatedContent(4 << 20);
        var uploading = client.PostAsync("/echo", upload);
        await upload.HalfSent.WaitAsync(TimeSpan.FromSeconds(10));
        // Sent is not received: only once the sidecar is spooling the body has it chosen the route and its limit.
        var spool = sidecar.Services.GetRequiredService<Sidecar.Buffering.SpoolStore>();
        await ConfigText.EventuallyAsync(() => spool.BytesOnDisk > 0, "upload being spooled");

        // v2 drops both routes: /echo falls back to the 1 MB default, /events/ to response buffering.
        volume.Write("sidecar.json", ConfigText.Versioned("v2"));
        await ConfigText.EventuallyAsync(() => status.Applied == 1, "v2 applied");
        using var tooLarge = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(new byte[2 << 20]) };
        tooLarge.Headers.ExpectContinue = true;
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await client.SendAsync(tooLarge)).StatusCode);

        upload.Release();
        var uploaded = await uploading;
        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        Assert.Contains($"\"length\": {4 << 20}", await uploaded.Content.ReadAsStringAsync());
        Assert.Equal("v1", uploaded.Headers.GetValues("X-Config").Single());

        await File.WriteAllTextAsync(signal, "");
        Assert.Equal("", await reader.ReadLineAsync());
        Assert.Equal("data: last", await reader.ReadLineAsync());
        Assert.Equal("v1", stream.Headers.GetValues("X-Config").Single());
    }

    /// <summary>A request body sent in two halves, the second only when the test says so.</summary>
    private sealed class GatedContent(int length) : HttpContent
    {
        private readonly TaskCompletionSource _halfSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task HalfSent => _halfSent.Task;

        public void Release() => _release.TrySetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context)
        {
            var half = new byte[length / 2];
            await stream.WriteAsync(half);
            await stream.FlushAsync();
            _halfSent.TrySetResult();
            await _release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            await stream.WriteAsync(half);
        }

        protected override bool TryComputeLength(out long size)
        {
            size = length / 2 * 2;
            return true;
        }
    }

    /// <summary>What an operator sees when a reload touches a restart-only setting: the log line, the counter, and warnings.</summary>
    [Fact]
    public async Task ARestartOnlyChangeIsLoggedAndCountedOnTheRealProcess()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", ConfigText.Versioned("v1"));
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json"),
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "100ms",
        });

        volume.Write("sidecar.json", """
            { "Sidecar": { "MaxHeaderCount": "50", "KeepAliveTimeout": "2m" },
              "ReverseProxy": { "Routes": { "app": { "ClusterId": "upstream", "Match": { "Path": "/{**catch-all}" },
                                                     "Metadata": { "Sidecar.MaxBodySize": "1m", "MaxBodySise": "2m" } } } } }
            """);
        await ConfigText.EventuallyAsync(() => sidecar.Output.Contains(
                "changes settings that take effect only after a restart: KeepAliveTimeout 75s -> 2m, MaxHeaderCount 100 -> 50; they keep their running values until then, the rest is applied now"),
            "the restart-only changes named in the log", detail: () => "\n" + sidecar.Output);
        await ConfigText.EventuallyAsync(() => sidecar.Output.Contains("ReverseProxy.Routes.app.Metadata.MaxBodySise: ignored"),
            "the look-alike metadata key warned about", detail: () => "\n" + sidecar.Output);

        using var admin = new HttpClient { BaseAddress = sidecar.AdminAddress };
        var metrics = "";
        await ConfigText.EventuallyAsync(async () => (metrics = await admin.GetStringAsync("/metrics")).Contains("sidecar_config_reloads_restart_required_total 1"),
            "the restart-required counter", detail: () => "\n" + metrics);
        Assert.Contains("sidecar_config_reloads_total{result=\"applied\"} 1", metrics);

        // The live part is in force: the route's 1 MB limit.
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        using var tooLarge = new HttpRequestMessage(HttpMethod.Post, "/echo") { Content = new ByteArrayContent(new byte[2 << 20]) };
        tooLarge.Headers.ExpectContinue = true;
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await client.SendAsync(tooLarge)).StatusCode);
    }

    /// <summary>nginx reloads on SIGHUP, and scripts written for it send one; it used to end the process on the spot.</summary>
    [Fact]
    public async Task SighupReadsTheConfigAtOnceEvenWithPollingOff()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 1);
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", ConfigText.Versioned("v1"));
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string>
        {
            ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json"),
            ["SIDECAR_CONFIG_POLL_INTERVAL"] = "0",
        });
        using var client = new HttpClient { BaseAddress = sidecar.Address };
        var slow = client.GetAsync("/sleep?s=1");

        volume.Write("sidecar.json", ConfigText.Versioned("v2"));
        await Task.Delay(200);
        sidecar.Process.Signal(1);
        await ConfigText.EventuallyAsync(async () => (await client.GetAsync("/hello")).Headers.TryGetValues("X-Config", out var v) && v.Single() == "v2",
            "the new config in force after SIGHUP", detail: () => "\n" + sidecar.Output);

        Assert.Equal(HttpStatusCode.OK, (await slow).StatusCode);
        Assert.False(sidecar.Process.HasExited);
        Assert.Contains("SIGHUP: reading", sidecar.Output);

        sidecar.Process.Signal(1);
        await ConfigText.EventuallyAsync(() => sidecar.Output.Contains("is as last read; config"), "the unchanged file reported", detail: () => "\n" + sidecar.Output);
    }

    [Fact]
    public async Task ARouteUpstreamTimeoutAppliesToThatRouteOnly()
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        using var volume = new KubeletVolume();
        volume.Write("sidecar.json", """
            {
              "ReverseProxy": {
                "Routes": {
                  "impatient": { "ClusterId": "upstream", "Match": { "Path": "/impatient/{**rest}" },
                                 "Transforms": [ { "PathRemovePrefix": "/impatient" } ],
                                 "Metadata": { "Sidecar.UpstreamTimeout": "300ms" } },
                  "app": { "ClusterId": "upstream", "Match": { "Path": "/{**catch-all}" } }
                }
              }
            }
            """);
        using var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_CONFIG"] = volume.PathOf("sidecar.json") });
        using var client = sidecar.Client();

        Assert.Equal(HttpStatusCode.GatewayTimeout, (await client.GetAsync("/impatient/sleep?s=1.5")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/sleep?s=1.5")).StatusCode);
    }
}
