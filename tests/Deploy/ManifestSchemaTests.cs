using k8s.Models;

namespace Sidecar.Tests.Deploy;

/// <summary>deploy/ renders offline and every object is a valid Kubernetes object, field for field.</summary>
public class ManifestSchemaTests
{
    [Theory]
    [MemberData(nameof(Manifests.AllTrees), MemberType = typeof(Manifests))]
    public void Every_tree_renders_into_strictly_valid_objects(string tree)
    {
        var rendering = Manifests.Render(tree);

        var documents = Manifests.SplitDocuments(rendering.Yaml).Count();
        Assert.Equal(documents, rendering.Objects.Count);
        Assert.All(rendering.Objects, o => Assert.IsNotType<Dictionary<object, object>>(o));
        // The objects every tree must carry.
        Assert.Single(rendering.All<V1Deployment>());
        Assert.Single(rendering.All<V1Service>());
        Assert.Single(rendering.All<V1Job>());
        Assert.Single(rendering.All<V1PodDisruptionBudget>());
        Assert.Single(rendering.All<V2HorizontalPodAutoscaler>());
        Assert.Single(rendering.All<V1NetworkPolicy>());
        Assert.Single(rendering.All<V1ServiceAccount>());
        Assert.Equal(2, rendering.All<V1ConfigMap>().Count());
    }

    [Fact]
    public void Every_kustomization_under_deploy_is_rendered_by_the_tests()
    {
        var found = Directory.GetFiles(Manifests.DeployDirectory, "kustomization.yaml", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(Manifests.DeployDirectory, Path.GetDirectoryName(f)!).Replace('\\', '/'))
            .Where(d => !d.StartsWith("components/", StringComparison.Ordinal))
            .Order();

        Assert.Equal(Manifests.Trees.Order(), found);
    }

    [Fact]
    public void The_example_overlay_adds_the_credentials_and_the_pod_monitor()
    {
        var rendering = Manifests.Render("overlays/example");

        var secret = Assert.Single(rendering.All<V1Secret>());
        Assert.StartsWith(Manifests.CredentialsSecret + "-", secret.Metadata.Name);
        Assert.Equal(["db-password", "db-user", "django-secret-key"], secret.Data.Keys.Order());
        Assert.Equal("sidecar_demo", System.Text.Encoding.UTF8.GetString(secret.Data["db-user"]));
        Assert.All(new[] { "db-password", "django-secret-key" }, key => Assert.Equal(50, secret.Data[key].Length));
        var monitor = rendering.Single<PodMonitor>();
        Assert.Equal("admin", Assert.Single(monitor.Spec.PodMetricsEndpoints).Port);
        Assert.All(rendering.Objects.OfType<IMetadata<V1ObjectMeta>>().Where(o => o is not V1Namespace),
            o => Assert.Equal("sidecar-demo", o.Metadata.NamespaceProperty));
    }

    [Theory]
    [InlineData("readinessProbe:", "readinesProbe:")]
    [InlineData("terminationGracePeriodSeconds:", "terminationGraceSeconds:")]
    [InlineData("unhealthyPodEvictionPolicy:", "unhealthyPodEviction:")]
    [InlineData("allowPrivilegeEscalation:", "allowPrivilegedEscalation:")]
    public void A_misspelled_field_is_rejected(string field, string misspelling)
    {
        var yaml = Manifests.Render("base").Yaml;
        Assert.Contains(field, yaml);

        var broken = yaml.Replace(field, misspelling);

        var error = Assert.Throws<InvalidDataException>(() => Manifests.LoadStrict(broken));
        Assert.Contains(misspelling.TrimEnd(':'), error.Message);
    }

    [Fact]
    public void A_field_in_the_wrong_place_is_rejected()
    {
        // readOnlyRootFilesystem exists on a container's securityContext, not on the Pod's.
        var yaml = Manifests.Render("base").Yaml;
        const string podSecurityContext = "      securityContext:\n        fsGroup: 10001\n";
        Assert.Contains(podSecurityContext, yaml);

        var broken = yaml.Replace(podSecurityContext, podSecurityContext + "        readOnlyRootFilesystem: true\n");

        var error = Assert.Throws<InvalidDataException>(() => Manifests.LoadStrict(broken));
        Assert.Contains("readOnlyRootFilesystem", error.Message);
    }

    [Fact]
    public void A_misspelled_pod_monitor_field_is_rejected()
    {
        var yaml = Manifests.Render("overlays/example").Yaml;
        Assert.Contains("podMetricsEndpoints:", yaml);

        var error = Assert.Throws<InvalidDataException>(() => Manifests.LoadStrict(yaml.Replace("scrapeTimeout:", "scrapeTimout:")));
        Assert.Contains("scrapeTimout", error.Message);
    }

    [Fact]
    public void A_tree_that_does_not_render_fails_with_kubectls_message()
    {
        var directory = Directory.CreateTempSubdirectory("sidecar-kustomize-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "kustomization.yaml"), "resources:\n  - missing.yaml\n");

            var error = Assert.Throws<InvalidOperationException>(() => Manifests.Kustomize(directory));
            Assert.Contains("missing.yaml", error.Message);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
