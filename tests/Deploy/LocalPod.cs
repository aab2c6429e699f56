using System.Security.Cryptography;
using k8s.Models;
using Sidecar.Tests.Configuration;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Deploy;

/// <summary>
/// The rendered web Pod run on this machine as the kubelet would run it: volumes laid out (ConfigMaps and
/// Secrets in the kubelet's <c>..data</c> symlink layout, emptyDirs as directories), the migrations Job's
/// container run to completion, the static-copy init container, then the sidecar and the app with their
/// own command, args and environment. What cannot be the same here is mapped, and only that: container
/// paths to host directories, the fixed ports to free loopback ports, and PostgreSQL to SQLite.
/// </summary>
public sealed class LocalPod : IAsyncDisposable
{
    private readonly string _root;

    private LocalPod(Rendering rendering, string root)
    {
        Rendering = rendering;
        _root = root;
    }

    public Rendering Rendering { get; }

    public SidecarProcess Sidecar { get; private set; } = null!;

    public ExternalProcess App { get; private set; } = null!;

    /// <summary>gunicorn's loopback port, unless it listens on <see cref="UpstreamSocket"/>.</summary>
    public int AppPort { get; private set; }

    /// <summary>The host path of gunicorn's Unix socket when the Pod uses one.</summary>
    public string? UpstreamSocket { get; private set; }

    /// <summary>Host directory of each Pod volume, by name.</summary>
    public Dictionary<string, string> Volumes { get; } = [];

    /// <summary>The ConfigMap and Secret volumes, written by the kubelet's atomic writer; a test can update them.</summary>
    public Dictionary<string, KubeletVolume> KubeletVolumes { get; } = [];

    /// <summary>
    /// Stands in for the app image's filesystem: /app/staticfiles holds the build's collectstatic output.
    /// Built once per test run, as an image is built once and run by every Pod; Pods only read it.
    /// </summary>
    public string ImageRoot => Image.Value;

    private static readonly Lazy<string> Image = new(BuildImage);

    public string ImageStaticRoot => Path.Combine(ImageRoot, "app", "staticfiles");

    public string Log => $"--- app ---\n{App?.Output}\n--- sidecar ---\n{Sidecar?.Output}";

    public HttpClient Client(bool admin = false) => new()
    {
        BaseAddress = admin ? Sidecar.AdminAddress : Sidecar.Address,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>The public name Django accepts (DJANGO_ALLOWED_HOSTS in deploy/base/app.env).</summary>
    public const string PublicHost = "sidecar-demo.example.com";

    /// <summary>A request as the ingress sends it: public Host, TLS terminated in front (a trusted peer).</summary>
    public static HttpRequestMessage FromIngress(HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Host = PublicHost;
        request.Headers.Add("X-Forwarded-Proto", "https");
        return request;
    }

    /// <summary>Polls an admin path until it answers 200 (gunicorn may still be booting workers).</summary>
    public async Task<HttpResponseMessage> WaitForAdminAsync(string path)
    {
        using var admin = Client(admin: true);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var response = await admin.GetAsync(path);
            if (response.StatusCode == System.Net.HttpStatusCode.OK || DateTime.UtcNow > deadline)
            {
                return response;
            }

            await Task.Delay(200);
        }
    }

    /// <summary>The home page, and the hashed stylesheet it links to as served through the sidecar.</summary>
    public async Task<(HttpResponseMessage Page, string StylesheetPath, HttpResponseMessage Stylesheet)> GetPageAndStylesheetAsync()
    {
        using var client = Client();
        var page = await client.SendAsync(FromIngress(HttpMethod.Get, "/"));
        var html = await page.Content.ReadAsStringAsync();
        var match = System.Text.RegularExpressions.Regex.Match(html, """<link rel="stylesheet" href="(/static/notes/app\.[0-9a-f]{12}\.css)">""");
        Assert.True(match.Success, $"no hashed stylesheet link in: {html}\n{Log}");
        var stylesheet = await client.SendAsync(FromIngress(HttpMethod.Get, match.Groups[1].Value));
        return (page, match.Groups[1].Value, stylesheet);
    }

    public static async Task<LocalPod> StartAsync(Rendering rendering)
    {
        var pod = new LocalPod(rendering, Directory.CreateTempSubdirectory("sidecar-localpod-").FullName);
        try
        {
            await pod.StartAsync();
            return pod;
        }
        catch
        {
            await pod.DisposeAsync();
            throw;
        }
    }

    private async Task StartAsync()
    {
        var r = Rendering;
        // No PostgreSQL on this machine: the same settings module, pointed at SQLite.
        var database = new Dictionary<string, string>
        {
            ["DJANGO_DB_ENGINE"] = "sqlite",
            ["DJANGO_DB_NAME"] = Path.Combine(_root, "db.sqlite3"),
        };

        var imagePaths = ContainerOnHost.ImagePaths(ImageStaticRoot);

        var job = r.MigrationJob.Spec.Template.Spec;
        var jobVolumes = LayOutVolumes(job, "job");
        var migrate = new ContainerOnHost(r, job.Containers.Single(), imagePaths, jobVolumes).RunToCompletion(database);
        Assert.True(migrate.ExitCode == 0, $"the migrations Job failed: {migrate.Combined}");
        Assert.Contains("Applying notes.0001_initial... OK", migrate.Output);

        foreach (var (name, path) in LayOutVolumes(r.Pod, "pod"))
        {
            Volumes[name] = path;
        }

        // Init containers in their declared order, as the kubelet runs them: a regular one must finish
        // before the next starts; the native sidecar is started and left running. A plain-container
        // sidecar (the pre-1.29 overlay) starts with the app.
        AppPort = Ports.Free();
        foreach (var init in r.Pod.InitContainers ?? [])
        {
            if (init.RestartPolicy == "Always")
            {
                await StartSidecarAsync(imagePaths);
                continue;
            }

            var result = new ContainerOnHost(r, init, imagePaths, Volumes).RunToCompletion();
            Assert.True(result.ExitCode == 0, $"init container {init.Name} failed: {result.Combined}");
        }

        if (!r.NativeSidecar)
        {
            await StartSidecarAsync(imagePaths);
        }

        var app = new ContainerOnHost(r, r.App, imagePaths, Volumes);
        if (UpstreamSocket is { } socket)
        {
            // A socket in a per-Pod volume cannot collide with other tests: the manifest's own command.
            App = app.Start(database);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (!File.Exists(socket) && DateTime.UtcNow < deadline && !App.HasExited)
            {
                await Task.Delay(100);
            }

            Assert.True(File.Exists(socket), $"gunicorn made no socket at {socket}: {App.Output}");
        }
        else
        {
            // A later --bind overrides gunicorn.conf.py's 127.0.0.1:8000, so parallel tests never collide.
            App = app.Start(database, "--bind", $"127.0.0.1:{AppPort}");
            await Ports.WaitUntilListeningAsync(AppPort, TimeSpan.FromSeconds(30), () => App.Output);
        }
    }

    /// <summary>The sidecar with its container's environment and args, on free ports instead of the fixed ones.</summary>
    private async Task StartSidecarAsync(Dictionary<string, string> imagePaths)
    {
        var r = Rendering;
        var environment = new ContainerOnHost(r, r.Sidecar, imagePaths, Volumes).Environment();
        var upstream = environment["SIDECAR_UPSTREAM"];
        if (upstream.StartsWith("unix:", StringComparison.Ordinal))
        {
            UpstreamSocket = upstream["unix:".Length..]; // already mapped into the shared volume's directory
        }
        else
        {
            environment.Remove("SIDECAR_UPSTREAM");
        }

        foreach (var fixedPort in new[] { "SIDECAR_PORT", "SIDECAR_ADMIN_PORT" })
        {
            Assert.True(environment.Remove(fixedPort), $"the sidecar container should set {fixedPort} explicitly");
        }

        Assert.Null(r.Sidecar.Command); // the image's entrypoint is the sidecar itself
        Sidecar = await SidecarProcess.StartAsync(new Uri($"http://127.0.0.1:{AppPort}"), environment, [.. r.Sidecar.Args ?? []]);
    }

    /// <summary>The app image's build step (Dockerfile: collectstatic at build time) into a directory standing in for the image.</summary>
    private static string BuildImage()
    {
        var root = Directory.CreateTempSubdirectory("sidecar-localpod-image-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(root, recursive: true);
        var result = ProcessRun.Run("/usr/bin/python3", ["manage.py", "collectstatic", "--noinput"], ContainerOnHost.DjangoSource,
            new Dictionary<string, string>
            {
                ["DJANGO_SECRET_KEY"] = "collectstatic-only",
                ["DJANGO_STATIC_ROOT"] = Path.Combine(root, "app", "staticfiles"),
            });
        Assert.True(result.ExitCode == 0, $"collectstatic failed: {result.Combined}");
        return root;
    }

    private Dictionary<string, string> LayOutVolumes(V1PodSpec pod, string prefix)
    {
        var volumes = new Dictionary<string, string>();
        foreach (var volume in pod.Volumes)
        {
            var path = Path.Combine(_root, prefix + "-volumes", volume.Name);
            if (volume.EmptyDir is not null)
            {
                Directory.CreateDirectory(path);
            }
            else if (volume.Image is not null)
            {
                path = ImageRoot; // an image volume is the image's filesystem, read-only
            }
            else if (volume.ConfigMap is { } configMap)
            {
                var map = Rendering.ConfigMap(configMap.Name) ?? throw new InvalidOperationException($"ConfigMap {configMap.Name} is not rendered");
                path = WriteKubeletVolume($"{prefix}/{volume.Name}", Project(map.Data, configMap.Items));
            }
            else if (volume.Secret is { } secret)
            {
                // The base leaves the Secret to the cluster; stand in with fresh random values per key.
                var data = Rendering.Secret(secret.SecretName)?.Data.ToDictionary(d => d.Key, d => System.Text.Encoding.UTF8.GetString(d.Value))
                    ?? secret.Items.ToDictionary(i => i.Key, _ => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)));
                path = WriteKubeletVolume($"{prefix}/{volume.Name}", Project(data, secret.Items));
            }
            else
            {
                throw new InvalidOperationException($"volume {volume.Name}: only emptyDir, image, configMap and secret can be laid out here");
            }

            volumes[volume.Name] = path;
        }

        return volumes;
    }

    private string WriteKubeletVolume(string key, IReadOnlyDictionary<string, string> payload)
    {
        var volume = new KubeletVolume();
        KubeletVolumes[key] = volume;
        volume.Write(payload);
        return volume.Directory;
    }

    private static Dictionary<string, string> Project(IDictionary<string, string> data, IList<V1KeyToPath>? items) =>
        items is null
            ? new Dictionary<string, string>(data)
            : items.ToDictionary(i => i.Path, i => data.TryGetValue(i.Key, out var v) ? v : throw new InvalidOperationException($"key {i.Key} is missing"));

    public async ValueTask DisposeAsync()
    {
        if (App is not null) await App.DisposeAsync();
        if (Sidecar is not null) await Sidecar.DisposeAsync();
        foreach (var volume in KubeletVolumes.Values)
        {
            volume.Dispose();
        }

        Directory.Delete(_root, recursive: true);
    }
}
