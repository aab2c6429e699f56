using System.Text;
using k8s.Models;
using Sidecar.Configuration;

namespace Sidecar.Tests.Deploy;

/// <summary>
/// What a schema cannot see: the objects of each tree must agree with each other, with the sidecar's own
/// configuration loader and with gunicorn's, and every container must meet the Pod Security "restricted"
/// profile plus the team's hardening list.
/// </summary>
public class ManifestConsistencyTests
{
    private static Dictionary<string, string> Labels(V1LabelSelector selector) =>
        Assert.IsType<Dictionary<string, string>>(selector.MatchLabels, exactMatch: false) is var labels && selector.MatchExpressions is null
            ? new Dictionary<string, string>(labels)
            : throw new InvalidOperationException("only matchLabels selectors are expected");

    private static bool Selects(IDictionary<string, string> selector, IDictionary<string, string> labels) =>
        selector.Count > 0 && selector.All(s => labels.TryGetValue(s.Key, out var v) && v == s.Value);

    /// <summary>The sidecar's settings as it will resolve them in the Pod: its env plus the mounted config file.</summary>
    public static SidecarConfig SidecarConfigOf(Rendering rendering)
    {
        var sidecar = rendering.Sidecar;
        var configPath = Rendering.Env(sidecar, "SIDECAR_CONFIG") ?? ConfigLoader.DefaultPath;
        var mount = Assert.Single(sidecar.VolumeMounts, m => m.MountPath == Path.GetDirectoryName(configPath));
        Assert.Null(mount.SubPath); // subPath mounts never receive ConfigMap updates
        var volume = rendering.Volume(mount.Name);
        var map = rendering.ConfigMap(volume.ConfigMap.Name);
        Assert.NotNull(map);
        Assert.True(map.Data.TryGetValue(Path.GetFileName(configPath), out var content), $"ConfigMap {map.Metadata.Name} has no key {Path.GetFileName(configPath)}");
        return ConfigLoader.Parse(Encoding.UTF8.GetBytes(content), configPath, name => Rendering.Env(sidecar, name));
    }

    private static int NamedPort(V1Container container, string name) =>
        Assert.Single(container.Ports ?? [], p => p.Name == name).ContainerPort;

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Selectors_match_the_pods_they_are_meant_for(string tree)
    {
        var r = Manifests.Render(tree);
        var podLabels = r.Deployment.Spec.Template.Metadata.Labels;

        Assert.True(Selects(Labels(r.Deployment.Spec.Selector), podLabels), "Deployment selector does not match its template");
        Assert.True(Selects(r.Single<V1Service>().Spec.Selector, podLabels), "Service selects no web Pod");
        Assert.True(Selects(Labels(r.Single<V1PodDisruptionBudget>().Spec.Selector), podLabels), "PDB selects no web Pod");
        Assert.True(Selects(Labels(r.Single<V1NetworkPolicy>().Spec.PodSelector), podLabels), "NetworkPolicy misses the web Pods");
        Assert.True(Selects(Labels(r.Single<V1NetworkPolicy>().Spec.PodSelector), r.MigrationJob.Spec.Template.Metadata.Labels), "NetworkPolicy misses the Job");
        Assert.False(Selects(r.Single<V1Service>().Spec.Selector, r.MigrationJob.Spec.Template.Metadata.Labels), "the Service would send traffic to the migrations Job");
        foreach (var monitor in r.All<PodMonitor>())
        {
            Assert.True(Selects(Labels(monitor.Spec.Selector), podLabels), "PodMonitor selects no web Pod");
        }

        var hpa = r.Single<V2HorizontalPodAutoscaler>();
        Assert.Equal(("Deployment", r.Deployment.Metadata.Name), (hpa.Spec.ScaleTargetRef.Kind, hpa.Spec.ScaleTargetRef.Name));
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Ports_agree_between_service_probes_network_policy_scraping_and_the_sidecars_settings(string tree)
    {
        var r = Manifests.Render(tree);
        var settings = SidecarConfigOf(r).Settings;
        var sidecar = r.Sidecar;

        Assert.Equal(settings.Port, NamedPort(sidecar, "http"));
        Assert.Equal(settings.AdminPort, NamedPort(sidecar, "admin"));

        var servicePort = Assert.Single(r.Single<V1Service>().Spec.Ports);
        Assert.Equal(80, servicePort.Port);
        Assert.Equal(settings.Port.ToString(), servicePort.TargetPort.Value);

        foreach (var container in r.Containers)
        {
            foreach (var probe in new[] { container.StartupProbe, container.LivenessProbe, container.ReadinessProbe }.OfType<V1Probe>())
            {
                var port = probe.HttpGet?.Port.Value ?? throw new InvalidOperationException($"{container.Name}: only httpGet probes are expected");
                Assert.False(int.TryParse(port, out _), $"{container.Name}: probe port {port} should be a named port");
                NamedPort(container, port);
            }
        }

        var policy = r.Single<V1NetworkPolicy>();
        var allowed = policy.Spec.Ingress.SelectMany(rule => rule.Ports).Select(p => p.Port.Value).ToHashSet();
        Assert.Equal(new[] { settings.AdminPort.ToString(), settings.Port.ToString() }.Order(), allowed.Order());

        var annotations = r.Deployment.Spec.Template.Metadata.Annotations;
        Assert.Equal("true", annotations["prometheus.io/scrape"]);
        Assert.Equal(settings.AdminPort.ToString(), annotations["prometheus.io/port"]);
        Assert.Equal("/metrics", annotations["prometheus.io/path"]);
        foreach (var monitor in r.All<PodMonitor>())
        {
            var endpoint = Assert.Single(monitor.Spec.PodMetricsEndpoints);
            NamedPort(sidecar, endpoint.Port!);
            Assert.Equal("/metrics", endpoint.Path);
        }
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void The_sidecar_forwards_to_where_gunicorn_listens(string tree)
    {
        var r = Manifests.Render(tree);
        var gunicorn = ContainerOnHost.GunicornOf(r);
        var settings = SidecarConfigOf(r).Settings;

        if (settings.UpstreamSocket is { } socket)
        {
            // A socket in a volume both containers mount, and nothing else.
            Assert.Equal([$"unix:{socket}"], gunicorn.Bind);
            var directory = Path.GetDirectoryName(socket);
            var appMount = Assert.Single(r.App.VolumeMounts, m => m.MountPath == directory);
            var sidecarMount = Assert.Single(r.Sidecar.VolumeMounts, m => m.MountPath == directory);
            Assert.Equal(appMount.Name, sidecarMount.Name);
            Assert.NotNull(r.Volume(appMount.Name).EmptyDir);
            Assert.Equal(2, r.Containers.Count(c => (c.VolumeMounts ?? []).Any(m => m.Name == appMount.Name)));
        }
        else
        {
            var upstream = settings.Upstream;
            Assert.Equal([$"{upstream.Host}:{upstream.Port}"], gunicorn.Bind);
            Assert.Equal("127.0.0.1", upstream.Host); // loopback: nothing outside the Pod reaches gunicorn
        }

        Assert.Equal("sync", gunicorn.WorkerClass);
        // One request per sync worker: the sidecar queues the rest instead of gunicorn's listen backlog.
        Assert.Equal(gunicorn.Workers, settings.UpstreamConcurrency);
        Assert.Null(r.App.Ports); // it must not pretend to listen on the Pod IP
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Probes_never_make_the_sidecar_wait_for_the_app(string tree)
    {
        var sidecar = Manifests.Render(tree).Sidecar;

        Assert.Equal("/healthz/started", sidecar.StartupProbe.HttpGet.Path);
        Assert.Equal("/healthz/live", sidecar.LivenessProbe.HttpGet.Path);
        Assert.Equal("/healthz/ready", sidecar.ReadinessProbe.HttpGet.Path);
        // The startup probe must give the process long enough to start; one try is not enough.
        Assert.True((sidecar.StartupProbe.PeriodSeconds ?? 10) * (sidecar.StartupProbe.FailureThreshold ?? 3) >= 10);
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Termination_grace_covers_the_prestop_sleep_gunicorns_graceful_stop_and_the_sidecars_drain(string tree)
    {
        var r = Manifests.Render(tree);
        var settings = SidecarConfigOf(r).Settings;
        var gunicorn = ContainerOnHost.GunicornOf(r);
        var preStop = r.App.Lifecycle.PreStop;
        var sleep = TimeSpan.FromSeconds(preStop.Sleep?.Seconds
            ?? long.Parse(Assert.Single(preStop.Exec.Command, c => c.All(char.IsDigit))));
        var grace = TimeSpan.FromSeconds(r.Pod.TerminationGracePeriodSeconds ?? 30);

        Assert.True(sleep >= TimeSpan.FromSeconds(5), "the preStop sleep must cover endpoint-removal lag");
        if (r.NativeSidecar)
        {
            // The sidecar gets SIGTERM only once the app has exited.
            Assert.True(grace >= sleep + gunicorn.GracefulTimeout + settings.DrainTimeout,
                $"terminationGracePeriodSeconds {grace} < {sleep} + {gunicorn.GracefulTimeout} + {settings.DrainTimeout}");
            Assert.Equal("Always", r.Sidecar.RestartPolicy);
            Assert.Equal(TimeSpan.Zero, settings.ShutdownDelay);
        }
        else
        {
            // Both get SIGTERM together: the sidecar keeps accepting while the app's preStop sleeps.
            Assert.True(settings.ShutdownDelay >= sleep, "SIDECAR_SHUTDOWN_DELAY must cover the app's preStop sleep");
            Assert.True(grace >= sleep + gunicorn.GracefulTimeout && grace >= settings.ShutdownDelay + settings.DrainTimeout,
                $"terminationGracePeriodSeconds {grace} is too short");
            Assert.Null(r.Sidecar.RestartPolicy);
            Assert.Null(preStop.Sleep); // the sleep action does not exist on clusters this old
        }
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Start_order_is_static_copy_then_sidecar_then_app(string tree)
    {
        var r = Manifests.Render(tree);
        var init = (r.Pod.InitContainers ?? []).Select(c => c.Name).ToList();
        var main = r.Pod.Containers.Select(c => c.Name).ToList();
        var staticFromImage = r.Pod.Volumes.Any(v => v.Image is not null);

        var expectedInit = new List<string>();
        if (!staticFromImage) expectedInit.Add("static-copy");
        if (r.NativeSidecar) expectedInit.Add("sidecar");
        Assert.Equal(expectedInit, init);
        Assert.Equal(r.NativeSidecar ? ["app"] : ["app", "sidecar"], main);
        Assert.All((r.Pod.InitContainers ?? []).Where(c => c.Name != "sidecar"), c => Assert.Null(c.RestartPolicy));
        Assert.DoesNotContain(r.Containers, c => (c.Command ?? []).Concat(c.Args ?? []).Contains("migrate"));
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void The_sidecar_serves_the_static_files_of_the_app_image_it_runs_with(string tree)
    {
        var r = Manifests.Render(tree);
        var staticRoot = Rendering.Env(r.Sidecar, "SIDECAR_STATIC_ROOT");
        var appStaticRoot = Rendering.Env(r.App, "DJANGO_STATIC_ROOT");
        Assert.NotNull(staticRoot);
        Assert.NotNull(appStaticRoot);
        Assert.Equal("/static/", Rendering.Env(r.Sidecar, "SIDECAR_STATIC_URL"));

        var mount = Assert.Single(r.Sidecar.VolumeMounts, m => m.MountPath == staticRoot);
        Assert.True(mount.ReadOnlyProperty, "the sidecar must mount the static files read-only");
        var volume = r.Volume(mount.Name);
        if (volume.Image is { } image)
        {
            Assert.Equal(r.App.Image, image.Reference);
            Assert.Equal(appStaticRoot.TrimStart('/'), mount.SubPath);
        }
        else
        {
            Assert.NotNull(volume.EmptyDir);
            var copy = r.Pod.InitContainers.Single(c => c.Name == "static-copy");
            Assert.Equal(r.App.Image, copy.Image);
            Assert.Equal(["cp", "-R", appStaticRoot + "/.", staticRoot + "/"], copy.Command);
            var target = Assert.Single(copy.VolumeMounts);
            Assert.Equal((mount.Name, staticRoot), (target.Name, target.MountPath));
            Assert.NotEqual(true, target.ReadOnlyProperty);
        }
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Every_container_meets_the_security_list(string tree)
    {
        var r = Manifests.Render(tree);
        var pods = new[] { r.Pod, r.MigrationJob.Spec.Template.Spec };

        foreach (var pod in pods)
        {
            Assert.False(pod.AutomountServiceAccountToken ?? true, "automountServiceAccountToken must be false");
            Assert.False(pod.EnableServiceLinks ?? true, "service links would inject SIDECAR_* variables");
            Assert.Null(pod.HostNetwork);
            Assert.True(pod.SecurityContext.RunAsNonRoot);
            Assert.Equal("RuntimeDefault", pod.SecurityContext.SeccompProfile.Type);
            foreach (var volume in pod.Volumes)
            {
                Assert.True(volume.EmptyDir is not null || volume.ConfigMap is not null || volume.Secret is not null || volume.Image is not null,
                    $"volume {volume.Name} is not of a type the restricted profile allows here");
                if (volume.EmptyDir is { } emptyDir)
                {
                    Assert.True(emptyDir.SizeLimit is not null, $"emptyDir {volume.Name} needs a sizeLimit");
                }
            }

            foreach (var container in (pod.InitContainers ?? []).Concat(pod.Containers))
            {
                var what = $"{tree}: container {container.Name}";
                var security = container.SecurityContext;
                Assert.True(security is not null, $"{what} has no securityContext");
                Assert.True(security.RunAsNonRoot == true, $"{what}: runAsNonRoot");
                Assert.True(security.RunAsUser >= 10000, $"{what}: runAsUser must be a numeric UID >= 10000");
                Assert.True(security.RunAsGroup >= 10000, $"{what}: runAsGroup must be a numeric GID >= 10000");
                Assert.True(security.ReadOnlyRootFilesystem == true, $"{what}: readOnlyRootFilesystem");
                Assert.True(security.AllowPrivilegeEscalation == false, $"{what}: allowPrivilegeEscalation");
                Assert.True(security.Privileged is null or false, $"{what}: privileged");
                Assert.Equal(["ALL"], security.Capabilities.Drop);
                Assert.Null(security.Capabilities.Add);
                Assert.Equal("RuntimeDefault", security.SeccompProfile.Type);
                Assert.Null(container.Ports?.FirstOrDefault(p => p.HostPort is not null));

                foreach (var resource in new[] { "cpu", "memory", "ephemeral-storage" })
                {
                    Assert.True(container.Resources.Requests?.ContainsKey(resource) == true, $"{what}: no {resource} request");
                    Assert.True(container.Resources.Limits?.ContainsKey(resource) == true, $"{what}: no {resource} limit");
                    Assert.True(container.Resources.Requests[resource].ToDecimal() <= container.Resources.Limits[resource].ToDecimal(), $"{what}: {resource} request above limit");
                }

                foreach (var mount in container.VolumeMounts ?? [])
                {
                    Assert.Contains(pod.Volumes, v => v.Name == mount.Name);
                }
            }

            // Long-running processes need a writable /tmp on a read-only root.
            foreach (var container in pod.Containers.Concat((pod.InitContainers ?? []).Where(c => c.RestartPolicy == "Always")))
            {
                var tmp = Assert.Single(container.VolumeMounts, m => m.MountPath == "/tmp");
                Assert.NotNull(pod.Volumes.Single(v => v.Name == tmp.Name).EmptyDir);
            }
        }

        foreach (var account in r.All<V1ServiceAccount>())
        {
            Assert.False(account.AutomountServiceAccountToken ?? true);
        }

        Assert.Equal(r.Pod.ServiceAccountName, Assert.Single(r.All<V1ServiceAccount>()).Metadata.Name);
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void The_spool_fits_its_volume_and_ephemeral_storage_covers_every_volume(string tree)
    {
        var r = Manifests.Render(tree);
        var settings = SidecarConfigOf(r).Settings;

        var spoolMount = Assert.Single(r.Sidecar.VolumeMounts, m => m.MountPath == settings.TempDir);
        var spool = r.Volume(spoolMount.Name).EmptyDir;
        Assert.NotNull(spool);
        Assert.NotEqual(true, spoolMount.ReadOnlyProperty);
        Assert.True(settings.SpoolQuota > 0 && settings.SpoolQuota < spool.SizeLimit.ToDecimal(),
            $"SpoolQuota {settings.SpoolQuota} must be set below the spool volume's sizeLimit {spool.SizeLimit} so the sidecar refuses (507) before the kubelet evicts");

        // The kubelet evicts the whole Pod once its emptyDirs plus its containers' own writes exceed the sum
        // of the running containers' ephemeral-storage limits: full volumes must fit below that sum, with
        // room left for logs, or the spool quota would never get the chance to answer 507.
        var volumes = r.Pod.Volumes.Where(v => v.EmptyDir is { Medium: null or "" }).Sum(v => v.EmptyDir.SizeLimit.ToDecimal());
        var running = r.Pod.Containers.Concat((r.Pod.InitContainers ?? []).Where(c => c.RestartPolicy == "Always"));
        var limits = running.Sum(c => c.Resources.Limits["ephemeral-storage"].ToDecimal());
        Assert.True(limits >= volumes + 128m * 1024 * 1024,
            $"ephemeral-storage limits ({limits} bytes) leave too little above the emptyDir size limits ({volumes} bytes)");
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Every_referenced_config_map_and_secret_key_exists(string tree)
    {
        var r = Manifests.Render(tree);
        var example = Manifests.Render("overlays/example");
        var exampleSecret = Assert.Single(example.All<V1Secret>());

        foreach (var pod in new[] { r.Pod, r.MigrationJob.Spec.Template.Spec })
        {
            foreach (var volume in pod.Volumes)
            {
                if (volume.ConfigMap is { } configMap)
                {
                    var map = r.ConfigMap(configMap.Name);
                    Assert.True(map is not null, $"ConfigMap {configMap.Name} is not rendered");
                    Assert.All(configMap.Items ?? [], item => Assert.Contains(item.Key, map.Data.Keys));
                }

                if (volume.Secret is { } secretVolume)
                {
                    Assert.NotEmpty(secretVolume.Items);
                    var keys = secretVolume.Items.Select(i => i.Key).ToList();
                    if (r.Secret(secretVolume.SecretName) is { } secret)
                    {
                        Assert.All(keys, key => Assert.Contains(key, secret.Data.Keys));
                    }
                    else
                    {
                        // Created outside this tree: it must be the Secret the example shows how to create.
                        Assert.Equal(Manifests.CredentialsSecret, secretVolume.SecretName);
                        Assert.All(keys, key => Assert.Contains(key, exampleSecret.Data.Keys));
                    }
                }
            }

            foreach (var container in (pod.InitContainers ?? []).Concat(pod.Containers))
            {
                foreach (var source in container.EnvFrom ?? [])
                {
                    Assert.NotNull(r.ConfigMap(source.ConfigMapRef.Name));
                }

                Assert.All(container.Env ?? [], e => Assert.True(e.Value is not null || e.ValueFrom is not null));
                // A duplicate silently wins over the first (a patch that adds instead of replacing).
                var names = (container.Env ?? []).Select(e => e.Name).ToList();
                Assert.True(names.Count == names.Distinct().Count(), $"{tree}: container {container.Name} sets a variable twice");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Images_are_pinned_and_the_job_migrates_with_the_app_image(string tree)
    {
        var r = Manifests.Render(tree);
        var images = r.Containers.Concat(r.MigrationJob.Spec.Template.Spec.Containers).Select(c => c.Image).ToList();

        foreach (var image in images)
        {
            var tag = image.Contains('@') ? image[(image.IndexOf('@') + 1)..] : image[(image.LastIndexOf(':') + 1)..];
            Assert.True(image.Contains('@') || (image.LastIndexOf(':') > image.LastIndexOf('/') && tag != "latest"), $"image {image} is not pinned");
        }

        Assert.Equal(r.App.Image, r.MigrationJob.Spec.Template.Spec.Containers.Single().Image);
        Assert.StartsWith("ghcr.io/sidecar-proxy/sidecar:", r.Sidecar.Image);
        Assert.All(r.Containers, c => Assert.Equal("IfNotPresent", c.ImagePullPolicy));
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Availability_objects_follow_the_recommendations(string tree)
    {
        var r = Manifests.Render(tree);

        Assert.Null(r.Deployment.Spec.Replicas); // the HPA owns the replica count
        Assert.Equal("RollingUpdate", r.Deployment.Spec.Strategy.Type);
        Assert.Equal("0", r.Deployment.Spec.Strategy.RollingUpdate.MaxUnavailable.Value);

        var pdb = r.Single<V1PodDisruptionBudget>();
        Assert.Equal("AlwaysAllow", pdb.Spec.UnhealthyPodEvictionPolicy);
        Assert.NotNull(pdb.Spec.MaxUnavailable);

        var hpa = r.Single<V2HorizontalPodAutoscaler>();
        Assert.True(hpa.Spec.MinReplicas >= 2);
        Assert.NotEmpty(hpa.Spec.Metrics);
        // Per-Pod custom metrics (overlays/queue-autoscaling: queue demand and wait) need no resource requests.
        foreach (var metric in hpa.Spec.Metrics.Where(m => m.Type != "Pods"))
        {
            Assert.Equal("ContainerResource", metric.Type);
            Assert.Equal(r.App.Name, metric.ContainerResource.Container);
            Assert.Contains(metric.ContainerResource.Name, r.App.Resources.Requests.Keys);
        }

        var job = r.MigrationJob.Spec;
        Assert.InRange(job.BackoffLimit ?? 6, 0, 3);
        Assert.NotNull(job.TtlSecondsAfterFinished);
        Assert.NotNull(job.ActiveDeadlineSeconds);
        Assert.Equal("Never", job.Template.Spec.RestartPolicy);
        var migrate = job.Template.Spec.Containers.Single();
        Assert.Equal(["python", "manage.py", "migrate", "--noinput"], migrate.Command);
    }

    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void The_sidecar_polls_its_config_file_only_when_the_config_map_can_change(string tree)
    {
        var r = Manifests.Render(tree);
        var map = r.ConfigMap(r.Volume("sidecar-config").ConfigMap.Name);
        var poll = SidecarConfigOf(r).Settings.ConfigPollInterval;

        Assert.NotNull(map);
        if (map.Immutable == true)
        {
            Assert.Equal(TimeSpan.Zero, poll);
        }
        else
        {
            Assert.InRange(poll, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public void The_base_config_map_is_hashed_and_immutable_and_the_live_overlay_is_neither()
    {
        var hashed = Manifests.Render("base");
        var hashedMap = Assert.Single(hashed.All<V1ConfigMap>(), m => m.Metadata.Name.StartsWith("sidecar-config-", StringComparison.Ordinal));
        Assert.True(hashedMap.Immutable);
        Assert.Equal(hashedMap.Metadata.Name, hashed.Volume("sidecar-config").ConfigMap.Name);

        var live = Manifests.Render("overlays/live-config");
        var liveMap = live.ConfigMap("sidecar-config");
        Assert.NotNull(liveMap);
        Assert.NotEqual(true, liveMap.Immutable);
        Assert.Equal("sidecar-config", live.Volume("sidecar-config").ConfigMap.Name);
        Assert.Equal(hashedMap.Data, liveMap.Data);
    }
}
