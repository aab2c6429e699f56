using System.Net;
using System.Text.RegularExpressions;
using k8s.Models;
using Sidecar.Tests.Deploy;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Admission;

/// <summary>
/// The autoscaling example is three files that must agree by name: the HPA asks for custom metrics, the
/// prometheus-adapter rules serve them, and their queries read series the sidecar really exports. A renamed
/// metric anywhere would leave the HPA without data and the Deployment at its minimum, silently.
/// </summary>
[Collection(QueueMetrics.Collection)]
public sealed class QueueAutoscalingTests
{
    private const string Tree = "overlays/queue-autoscaling";

    private static string AdapterValues => File.ReadAllText(Path.Combine(Manifests.DeployDirectory, Tree, "prometheus-adapter-values.yaml"));

    [Fact]
    public void TheHpaScalesOnTheMetricsTheAdapterServes()
    {
        var rendering = Manifests.Render(Tree);
        var hpa = rendering.Single<V2HorizontalPodAutoscaler>();
        var served = Regex.Matches(AdapterValues, @"^\s+as: (\S+)\s*$", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToHashSet();

        Assert.NotEmpty(hpa.Spec.Metrics);
        Assert.All(hpa.Spec.Metrics, metric =>
        {
            Assert.Equal("Pods", metric.Type);
            Assert.Contains(metric.Pods.Metric.Name, served);
        });
        Assert.Equal(served.Order(), hpa.Spec.Metrics.Select(m => m.Pods.Metric.Name).Order());
        Assert.True(int.Parse(Rendering.Env(rendering.Sidecar, "SIDECAR_UPSTREAM_CONCURRENCY") ?? "0") > 0,
            "without an upstream concurrency limit the queue metrics stay empty and the HPA never scales");
        Assert.Contains(rendering.All<PodMonitor>(), m => m.Spec.PodMetricsEndpoints.Any(e => e.Port == "admin" && e.Path == "/metrics"));
    }

    [Fact]
    public async Task TheAdapterRulesReadSeriesTheSidecarExports()
    {
        // A request through a limited cluster makes every admission series exist, even with no upstream.
        using var sidecar = new SidecarFactory(new Uri($"http://127.0.0.1:{Ports.Free()}"),
            new Dictionary<string, string> { ["SIDECAR_UPSTREAM_CONCURRENCY"] = "1" });
        Assert.Equal(HttpStatusCode.BadGateway, (await sidecar.Client().GetAsync("/")).StatusCode);
        using var metrics = new QueueMetrics(sidecar);
        var exported = (await metrics.ScrapeAsync()).Split('\n')
            .Where(line => line.StartsWith("sidecar_", StringComparison.Ordinal))
            .Select(line => line[..line.IndexOfAny(['{', ' '])])
            .ToHashSet();

        var used = Regex.Matches(AdapterValues, @"\bsidecar_[a-z_]+\b").Select(m => m.Value)
            .Where(name => !Regex.IsMatch(AdapterValues, $@"as: {name}\b"))
            .ToHashSet();

        Assert.NotEmpty(used);
        Assert.All(used, name => Assert.Contains(name, exported));
    }
}
