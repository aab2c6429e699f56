using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Benchmarks;

/// <summary>
/// The microbenchmarks call the sidecar's internals (the spool, the access log writer), so a change there can break
/// <c>bash benchmarks/micro.sh</c> without touching a test: the spool's writes once became synchronous and the
/// benchmark kept calling the asynchronous form. Built in a scratch artifacts directory, apart from the tests' own build.
/// </summary>
[Collection(HeavyCollection.Name)]
public sealed class MicrobenchmarkBuildTests
{
    [Fact]
    public void MicrobenchmarksBuildAgainstTheCurrentSource()
    {
        using var artifacts = new ScratchDirectory("sidecar-micro-build-");
        var project = Path.Combine(TestPaths.RepositoryRoot, "benchmarks", "Micro", "Micro.csproj");
        var build = ProcessRun.Run("dotnet", ["build", project, "-c", "Release", "--artifacts-path", artifacts.Path, "-nologo", "-v", "q"],
            timeout: TimeSpan.FromMinutes(10));
        Assert.True(build.ExitCode == 0, $"dotnet build benchmarks/Micro failed:\n{build.Combined}");
    }
}
