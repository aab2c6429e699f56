using System.Net;
using System.Text.Json;

namespace Sidecar.Tests.Deploy;

/// <summary>One web Pod of deploy/base, started on this machine for the tests in <see cref="LocalPodTests"/>.</summary>
public sealed class LocalPodFixture : IAsyncLifetime
{
    public LocalPod Pod { get; private set; } = null!;

    public async Task InitializeAsync() => Pod = await LocalPod.StartAsync(Manifests.Render("base"));

    public async Task DisposeAsync() => await Pod.DisposeAsync();
}

/// <summary>
/// The manifests and the binaries agree: the Pod spec of deploy/base, run on this machine, proxies to the
/// example Django app, answers its probes, enforces the ConfigMap's routes and serves the app's static files.
/// </summary>
public sealed class LocalPodTests(LocalPodFixture fixture) : IClassFixture<LocalPodFixture>
{
    private const string PublicHost = LocalPod.PublicHost;

    private LocalPod Pod => fixture.Pod;

    private static HttpRequestMessage FromIngress(HttpMethod method, string path, HttpContent? content = null) =>
        LocalPod.FromIngress(method, path, content);

    [Fact]
    public async Task The_probe_paths_in_the_manifest_answer_on_the_admin_port()
    {
        var sidecar = Pod.Rendering.Sidecar;

        foreach (var probe in new[] { sidecar.StartupProbe, sidecar.LivenessProbe, sidecar.ReadinessProbe })
        {
            var response = await Pod.WaitForAdminAsync(probe.HttpGet.Path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{probe.HttpGet.Path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}\n{Pod.Log}");
        }

        // The main port carries application traffic only.
        using var main = Pod.Client();
        var leaked = await main.SendAsync(FromIngress(HttpMethod.Get, "/healthz/ready"));
        Assert.Equal(HttpStatusCode.NotFound, leaked.StatusCode);
    }

    [Fact]
    public async Task The_scrape_annotations_lead_to_the_sidecars_metrics()
    {
        var annotations = Pod.Rendering.Deployment.Spec.Template.Metadata.Annotations;
        Assert.Equal(Pod.Rendering.Sidecar.Ports.Single(p => p.Name == "admin").ContainerPort.ToString(), annotations["prometheus.io/port"]);
        using var client = Pod.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(FromIngress(HttpMethod.Get, "/api/whoami"))).StatusCode);

        using var admin = Pod.Client(admin: true);
        var response = await admin.GetAsync(annotations["prometheus.io/path"]);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("sidecar_requests_total{", text);
        // The spool quota set in the Deployment (900m) is the one the binary runs with.
        Assert.Matches(@"(?m)^sidecar_spool_quota_bytes(\{[^}]*\})? 943718400$", text);
    }

    [Fact]
    public async Task Django_sees_the_public_host_https_and_the_client_behind_the_sidecar()
    {
        using var client = Pod.Client();

        var response = await client.SendAsync(FromIngress(HttpMethod.Get, "/api/whoami"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var facts = json.RootElement;
        Assert.Equal(PublicHost, facts.GetProperty("host").GetString());
        Assert.True(facts.GetProperty("is_secure").GetBoolean());
        Assert.Equal("127.0.0.1", facts.GetProperty("remote_addr").GetString());
        Assert.Contains("127.0.0.1", facts.GetProperty("x_forwarded_for").GetString());
        Assert.Equal(response.Headers.GetValues("X-Request-ID").Single(), facts.GetProperty("request_id").GetString());
    }

    [Fact]
    public async Task Plain_http_is_redirected_and_unknown_hosts_are_refused_by_django()
    {
        using var client = Pod.Client();

        var plain = new HttpRequestMessage(HttpMethod.Get, "/api/whoami");
        plain.Headers.Host = PublicHost;
        var redirect = await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = Pod.Sidecar.Address }.SendAsync(plain);
        Assert.Equal(HttpStatusCode.MovedPermanently, redirect.StatusCode);
        Assert.Equal($"https://{PublicHost}/api/whoami", redirect.Headers.Location!.ToString());

        var unknown = FromIngress(HttpMethod.Get, "/api/whoami");
        unknown.Headers.Host = "10.1.2.3";
        Assert.Equal(HttpStatusCode.BadRequest, (await client.SendAsync(unknown)).StatusCode);

        // The app's own health check answers whatever the Host, without the database or a redirect.
        var health = new HttpRequestMessage(HttpMethod.Get, "/healthz");
        health.Headers.Host = "10.1.2.3";
        var healthResponse = await client.SendAsync(health);
        Assert.Equal(HttpStatusCode.OK, healthResponse.StatusCode);
        Assert.Equal("ok\n", await healthResponse.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Notes_are_stored_in_the_schema_the_migrations_job_created()
    {
        using var client = Pod.Client();
        var text = $"from the local pod {Guid.NewGuid():N}";

        var created = await client.SendAsync(FromIngress(HttpMethod.Post, "/api/notes", new StringContent(text)));
        var listed = await client.SendAsync(FromIngress(HttpMethod.Get, "/api/notes"));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Contains(text, await listed.Content.ReadAsStringAsync());

        // The HTML form keeps Django's CSRF protection through the proxy.
        var forged = FromIngress(HttpMethod.Post, "/", new FormUrlEncodedContent([new("text", "forged")]));
        Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(forged)).StatusCode);
    }

    [Fact]
    public async Task The_config_maps_routes_set_the_body_limits()
    {
        using var client = Pod.Client();
        var body = new byte[12 * 1024 * 1024]; // above the 10m default, below the upload route's 50m
        Random.Shared.NextBytes(body);

        var upload = await client.SendAsync(FromIngress(HttpMethod.Post, "/api/upload", new ByteArrayContent(body)));
        // As curl does for large bodies: ask first, so the refusal arrives before the body is sent.
        var tooLarge = FromIngress(HttpMethod.Post, "/api/notes", new ByteArrayContent(body));
        tooLarge.Headers.ExpectContinue = true;
        var elsewhere = await client.SendAsync(tooLarge);

        Assert.True(upload.StatusCode == HttpStatusCode.OK, $"{upload.StatusCode} {await upload.Content.ReadAsStringAsync()}\n{Pod.Log}");
        using var json = JsonDocument.Parse(await upload.Content.ReadAsStringAsync());
        Assert.Equal(body.Length, json.RootElement.GetProperty("bytes").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)), json.RootElement.GetProperty("sha256").GetString());
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, elsewhere.StatusCode);
        Assert.DoesNotContain("\"POST /api/notes HTTP/1.1\" 413", Pod.App.Output); // refused before gunicorn
    }

    [Fact]
    public async Task The_page_links_hashed_static_files_that_the_pod_serves()
    {
        var (page, path, served) = await Pod.GetPageAndStylesheetAsync();

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        // The bytes are those the static-copy init container put into the shared volume.
        var onVolume = await File.ReadAllBytesAsync(Path.Combine(Pod.Volumes["static"], path["/static/".Length..]));
        Assert.Equal(onVolume, await served.Content.ReadAsByteArrayAsync());
        Assert.Equal("text/css", served.Content.Headers.ContentType!.MediaType);
        // collectstatic's manifest travelled with the files, so the sidecar can tell hashed names apart:
        // far-future caching, and gunicorn never spent a worker on it.
        Assert.True(File.Exists(Path.Combine(Pod.Volumes["static"], "staticfiles.json")));
        Assert.Contains("immutable", served.Headers.CacheControl!.ToString());
        Assert.DoesNotContain($"GET {path}", Pod.App.Output);
    }

    [Fact]
    public async Task The_brotli_files_collectstatic_wrote_are_served_to_clients_that_accept_them()
    {
        var (_, path, _) = await Pod.GetPageAndStylesheetAsync();
        using var client = Pod.Client();
        var request = FromIngress(HttpMethod.Get, path);
        request.Headers.Add("Accept-Encoding", "br, gzip");

        var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["br"], response.Content.Headers.ContentEncoding);
        var sibling = Path.Combine(Pod.Volumes["static"], path["/static/".Length..] + ".br");
        Assert.Equal(await File.ReadAllBytesAsync(sibling), await response.Content.ReadAsByteArrayAsync());
    }
}

/// <summary>Every overlay's Pod, not only the base's, runs here and serves the app and its static files.</summary>
public sealed class OverlayPodTests
{
    public static TheoryData<string> Overlays => new(Manifests.Trees.Where(t => t != "base"));

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task The_overlays_pod_runs_and_serves_the_app_and_the_images_static_files(string tree)
    {
        await using var pod = await LocalPod.StartAsync(Manifests.Render(tree));

        var ready = await pod.WaitForAdminAsync(pod.Rendering.Sidecar.ReadinessProbe.HttpGet.Path);
        var (page, path, stylesheet) = await pod.GetPageAndStylesheetAsync();

        Assert.True(ready.StatusCode == HttpStatusCode.OK, pod.Log);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal(HttpStatusCode.OK, stylesheet.StatusCode);
        var built = await File.ReadAllBytesAsync(Path.Combine(pod.ImageStaticRoot, path["/static/".Length..]));
        Assert.Equal(built, await stylesheet.Content.ReadAsByteArrayAsync());
    }
}

/// <summary>The native sidecar's stop order, played the way the kubelet plays it, with the manifest's processes.</summary>
public sealed class PodShutdownTests
{
    [Fact]
    public async Task When_the_app_has_stopped_readiness_fails_and_the_sidecar_then_exits_cleanly()
    {
        await using var pod = await LocalPod.StartAsync(Manifests.Render("base"));
        var readiness = pod.Rendering.Sidecar.ReadinessProbe.HttpGet.Path;
        Assert.Equal(HttpStatusCode.OK, (await pod.WaitForAdminAsync(readiness)).StatusCode);

        // 1. The app container: (after its preStop sleep) SIGTERM; gunicorn stops gracefully.
        pod.App.Signal(15);
        Assert.True(await pod.App.WaitForExitAsync(TimeSpan.FromSeconds(30)), pod.Log);
        Assert.Equal(0, pod.App.ExitCode);

        // The sidecar, still running, takes the Pod out of the Service while the app is gone.
        // (The sidecar probes the upstream at most once a second, so the change may take that long.)
        using var admin = pod.Client(admin: true);
        var stopped = DateTime.UtcNow;
        HttpResponseMessage notReady;
        while ((notReady = await admin.GetAsync(readiness)).StatusCode == HttpStatusCode.OK && DateTime.UtcNow - stopped < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(100);
        }

        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains("not ready", await notReady.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync(pod.Rendering.Sidecar.LivenessProbe.HttpGet.Path)).StatusCode);

        // 2. Only then the native sidecar gets SIGTERM, and exits on its own, well within the grace period.
        var drain = ManifestConsistencyTests.SidecarConfigOf(pod.Rendering).Settings.DrainTimeout;
        pod.Sidecar.Process.Signal(15);
        Assert.True(await pod.Sidecar.Process.WaitForExitAsync(drain + TimeSpan.FromSeconds(10)), pod.Log);
        Assert.Equal(0, pod.Sidecar.Process.ExitCode);
    }
}

/// <summary>overlays/live-config: an edit of the mounted ConfigMap reaches the running sidecar, no restart.</summary>
public sealed class LiveConfigPodTests
{
    [Fact]
    public async Task Editing_the_config_map_changes_the_running_sidecars_routes()
    {
        var rendering = Manifests.Render("overlays/live-config");
        await using var pod = await LocalPod.StartAsync(rendering);
        Assert.Equal(HttpStatusCode.OK, (await pod.WaitForAdminAsync(rendering.Sidecar.ReadinessProbe.HttpGet.Path)).StatusCode);
        using var client = pod.Client();
        var body = new byte[2 * 1024 * 1024];
        Task<HttpResponseMessage> Upload()
        {
            var request = LocalPod.FromIngress(HttpMethod.Post, "/api/upload", new ByteArrayContent(body));
            request.Headers.ExpectContinue = true;
            return client.SendAsync(request);
        }

        Assert.Equal(HttpStatusCode.OK, (await Upload()).StatusCode);

        // What `kubectl edit configmap sidecar-config` leads to: the kubelet swaps in the new payload.
        var original = rendering.ConfigMap("sidecar-config")!.Data["sidecar.json"];
        var edited = original.Replace("\"Sidecar.MaxBodySize\": \"50m\"", "\"Sidecar.MaxBodySize\": \"1m\"");
        Assert.NotEqual(original, edited);
        pod.KubeletVolumes["pod/sidecar-config"].Write("sidecar.json", edited);

        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpStatusCode status;
        do
        {
            await Task.Delay(250);
            status = (await Upload()).StatusCode;
        }
        while (status == HttpStatusCode.OK && DateTime.UtcNow < deadline);

        Assert.True(status == HttpStatusCode.RequestEntityTooLarge, $"{status}\n{pod.Log}");
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(LocalPod.FromIngress(HttpMethod.Get, "/api/whoami"))).StatusCode);
    }
}

/// <summary>overlays/plain-sidecar: both containers get SIGTERM together, and the sidecar still serves through the app's preStop sleep.</summary>
public sealed class PlainSidecarShutdownTests
{
    [Fact]
    public async Task After_sigterm_the_sidecar_keeps_serving_for_its_shutdown_delay_while_readiness_is_false()
    {
        var rendering = Manifests.Render("overlays/plain-sidecar");
        await using var pod = await LocalPod.StartAsync(rendering);
        var readiness = rendering.Sidecar.ReadinessProbe.HttpGet.Path;
        Assert.Equal(HttpStatusCode.OK, (await pod.WaitForAdminAsync(readiness)).StatusCode);
        var delay = ManifestConsistencyTests.SidecarConfigOf(rendering).Settings.ShutdownDelay;
        Assert.True(delay > TimeSpan.Zero);

        // The kubelet: SIGTERM to the sidecar (no preStop) while the app's preStop sleep holds gunicorn's.
        var signalled = DateTime.UtcNow;
        pod.Sidecar.Process.Signal(15);
        using var admin = pod.Client(admin: true);
        using var client = pod.Client();
        // The signal is handled asynchronously: wait for readiness to turn, then ask for a page.
        HttpStatusCode ready;
        while ((ready = (await admin.GetAsync(readiness)).StatusCode) == HttpStatusCode.OK && DateTime.UtcNow - signalled < delay)
        {
            await Task.Delay(100);
        }

        var served = await client.SendAsync(LocalPod.FromIngress(HttpMethod.Get, "/api/whoami"));
        var servedWithin = DateTime.UtcNow - signalled;

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.True(servedWithin < delay, $"the check took {servedWithin}, longer than the shutdown delay {delay}");

        // The preStop sleep ends: gunicorn stops gracefully, and the sidecar exits cleanly within the grace period.
        pod.App.Signal(15);
        Assert.True(await pod.App.WaitForExitAsync(TimeSpan.FromSeconds(30)), pod.Log);
        var grace = TimeSpan.FromSeconds(rendering.Pod.TerminationGracePeriodSeconds ?? 30);
        Assert.True(await pod.Sidecar.Process.WaitForExitAsync(grace), pod.Log);
        Assert.Equal(0, pod.Sidecar.Process.ExitCode);
        Assert.True(DateTime.UtcNow - signalled >= delay - TimeSpan.FromSeconds(1), "the sidecar left before its shutdown delay was over");
    }
}
