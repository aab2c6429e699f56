using System.Text.Json;
using System.Text.RegularExpressions;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Deploy;

/// <summary>The images agree with the manifests that run them: user, base images, default command.</summary>
public partial class DockerfileTests
{
    public static TheoryData<string> Dockerfiles => new(
        Directory.GetFiles(TestPaths.RepositoryRoot, "Dockerfile", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj" or ".git"))
            .Select(f => Path.GetRelativePath(TestPaths.RepositoryRoot, f)));

    private static List<string> Instructions(string dockerfile) =>
        Regex.Replace(File.ReadAllText(Path.Combine(TestPaths.RepositoryRoot, dockerfile)), @"\\\n", " ")
            .Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Images_run_as_the_manifests_numeric_user_on_pinned_bases(string dockerfile)
    {
        var lines = Instructions(dockerfile);
        var uids = Manifests.Render("base").Containers.Select(c => c.SecurityContext.RunAsUser).Distinct().ToList();

        var user = lines.Last(l => l.StartsWith("USER ", StringComparison.Ordinal))["USER ".Length..].Trim();
        Assert.Equal($"{Assert.Single(uids)}:{Assert.Single(uids)}", user);
        foreach (var from in lines.Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)))
        {
            var image = from.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).First(word => !word.StartsWith("--", StringComparison.Ordinal));
            if (lines.Any(l => Regex.IsMatch(l, $@"^FROM .* AS {Regex.Escape(image)}$", RegexOptions.IgnoreCase)))
            {
                continue; // a build stage of this file, not an image
            }

            Assert.True(image.Contains('@') || PinnedTag().IsMatch(image), $"{dockerfile}: base image {image} is not pinned to a version");
        }
    }

    [Fact]
    public void The_django_images_default_command_is_the_one_the_deployment_runs()
    {
        var cmd = Instructions("examples/django/Dockerfile").Single(l => l.StartsWith("CMD ", StringComparison.Ordinal))["CMD ".Length..];
        var app = Manifests.Render("base").App;

        Assert.Equal(app.Command.Concat(app.Args), JsonSerializer.Deserialize<string[]>(cmd));
        Assert.Contains("ENV PYTHONDONTWRITEBYTECODE=1", string.Join('\n', Instructions("examples/django/Dockerfile")));
        Assert.Contains(Instructions("examples/django/Dockerfile"), l => l.StartsWith("RUN ", StringComparison.Ordinal) && l.Contains("collectstatic --noinput"));
    }

    [GeneratedRegex(@":[^:/]*\d+\.\d+[^:/]*$")]
    private static partial Regex PinnedTag();
}
