using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Image;

/// <summary>
/// The root Dockerfile, built for real with buildah (stand-ins for the two base images, since no Docker
/// engine or registry is reachable) and run from the image's own root filesystem in front of real gunicorn.
/// Everything is in tests/Image/build-and-run.sh so a developer can run exactly what CI runs.
/// </summary>
public sealed class ImageBuildTests
{
    // The AOT publish inside the build dominates; on a busy 2-core machine the whole script takes a few minutes.
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(15);

    [Fact]
    public async Task DockerfileBuildsAnImageThatProxiesToGunicornWithAReadOnlyRoot()
    {
        var script = Path.Combine(TestPaths.RepositoryRoot, "tests", "Image", "build-and-run.sh");
        await using var build = new ExternalProcess("bash", [script], workingDirectory: TestPaths.RepositoryRoot);

        var finished = await build.WaitForExitAsync(Budget);
        if (!finished)
        {
            // SIGTERM first so the script's trap removes its containers and storage.
            build.Signal(15);
            await build.WaitForExitAsync(TimeSpan.FromSeconds(60));
        }

        Assert.True(finished, $"build-and-run.sh did not finish within {Budget}:\n{Tail(build.Output)}");
        Assert.True(build.ExitCode == 0, $"build-and-run.sh exited with {build.ExitCode}:\n{Tail(build.Output)}");
        Assert.Contains("requests through the image: ok", build.Output);
    }

    private static string Tail(string output) => output.Length <= 6000 ? output : output[^6000..];
}
