using k8s.Models;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Deploy;

/// <summary>The README's "add this to your Pod spec" snippet is a valid Pod and agrees with deploy/base.</summary>
public class ReadmeSnippetTests
{
    private const string Marker = "<!-- pod-spec-snippet";

    private static V1Pod SnippetPod()
    {
        var readme = File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, "README.md"));
        var start = readme.IndexOf(Marker, StringComparison.Ordinal);
        Assert.True(start >= 0, "the README lost its Pod spec snippet marker");
        var open = readme.IndexOf("```yaml\n", start, StringComparison.Ordinal) + "```yaml\n".Length;
        var close = readme.IndexOf("```", open, StringComparison.Ordinal);
        var pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: snippet\n" + readme[open..close];
        return Assert.IsType<V1Pod>(Assert.Single(Manifests.LoadStrict(pod)));
    }

    [Fact]
    public void The_snippet_is_a_strictly_valid_pod_with_a_native_sidecar()
    {
        var spec = SnippetPod().Spec;

        var sidecar = Assert.Single(spec.InitContainers);
        Assert.Equal("Always", sidecar.RestartPolicy);
        Assert.Equal(["app"], spec.Containers.Select(c => c.Name));
        Assert.NotNull(spec.Containers.Single().Lifecycle.PreStop.Sleep);
        Assert.Contains("--bind=127.0.0.1:8000", spec.Containers.Single().Command);
        Assert.All(sidecar.VolumeMounts, m => Assert.NotNull(spec.Volumes.Single(v => v.Name == m.Name).EmptyDir.SizeLimit));
        // The grace period covers the preStop sleep, gunicorn's default graceful_timeout (30 s) and the
        // sidecar's default drain, since the snippet sets neither.
        var drain = Sidecar.Configuration.Units.ParseDuration(Sidecar.Configuration.SettingsCatalog.Find("DrainTimeout")!.Default);
        Assert.True(spec.TerminationGracePeriodSeconds >= spec.Containers.Single().Lifecycle.PreStop.Sleep.Seconds + 30 + drain.TotalSeconds);
        // One forwarded request per sync worker.
        Assert.Contains($"--workers={Rendering.Env(sidecar, "SIDECAR_UPSTREAM_CONCURRENCY")}", spec.Containers.Single().Command);
    }

    [Fact]
    public void The_snippet_agrees_with_the_tested_base()
    {
        var snippet = Assert.Single(SnippetPod().Spec.InitContainers);
        var base_ = Manifests.Render("base").Sidecar;

        Assert.Equal(base_.Image, snippet.Image);
        Assert.Equal(base_.Ports.Select(p => (p.Name, p.ContainerPort)), snippet.Ports.Select(p => (p.Name, p.ContainerPort)));
        foreach (var (ours, theirs) in new[]
        {
            (snippet.StartupProbe, base_.StartupProbe), (snippet.LivenessProbe, base_.LivenessProbe), (snippet.ReadinessProbe, base_.ReadinessProbe),
        })
        {
            Assert.Equal((theirs.HttpGet.Path, theirs.HttpGet.Port.Value), (ours.HttpGet.Path, ours.HttpGet.Port.Value));
        }

        var security = snippet.SecurityContext;
        Assert.True(security.RunAsNonRoot == true && security.ReadOnlyRootFilesystem == true && security.AllowPrivilegeEscalation == false);
        Assert.Equal(base_.SecurityContext.RunAsUser, security.RunAsUser);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.Equal("RuntimeDefault", security.SeccompProfile.Type);
        Assert.Equal(Rendering.Env(base_, "SIDECAR_TEMP_DIR"), Rendering.Env(snippet, "SIDECAR_TEMP_DIR"));
    }
}
