using System.Text.Json;
using System.Text.RegularExpressions;
using k8s.Models;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Deploy;

/// <summary>
/// A container of a rendered Pod spec as a process on this machine: its command, args and environment
/// (env plus envFrom ConfigMaps) exactly as written. Container paths are mapped to host directories: the
/// image's own files (<see cref="ImagePaths"/>) and each volumeMount to its volume's directory. The image's
/// interpreter maps to the system Python, which has Debian's Django, WhiteNoise, gunicorn and Flask.
/// </summary>
public sealed class ContainerOnHost
{
    /// <summary>The app image's WORKDIR (examples/django/Dockerfile).</summary>
    public const string ImageWorkDir = "/app";

    private readonly Rendering _rendering;
    private readonly List<(string Container, string Host)> _paths = [];

    /// <param name="volumes">Host directory of each volume, by volume name; null when the container's mounts do not matter.</param>
    public ContainerOnHost(Rendering rendering, V1Container container, IReadOnlyDictionary<string, string> imagePaths,
        IReadOnlyDictionary<string, string>? volumes = null)
    {
        _rendering = rendering;
        Container = container;
        foreach (var (path, host) in imagePaths)
        {
            _paths.Add((path.TrimEnd('/'), host));
        }

        foreach (var mount in volumes is null ? [] : container.VolumeMounts ?? [])
        {
            var host = volumes![mount.Name];
            _paths.Add((mount.MountPath.TrimEnd('/'), mount.SubPath is { } sub ? Path.Combine(host, sub) : host));
        }

        // Longest prefix first, as a mount shadows the image below it.
        _paths.Sort((a, b) => b.Container.Length.CompareTo(a.Container.Length));
    }

    public V1Container Container { get; }

    /// <summary>The image's files: its WORKDIR is the example's source, and collectstatic output lives elsewhere.</summary>
    public static Dictionary<string, string> ImagePaths(string staticRoot) => new()
    {
        [ImageWorkDir] = DjangoSource,
        [ImageWorkDir + "/staticfiles"] = staticRoot,
    };

    public static string DjangoSource => Path.Combine(TestPaths.RepositoryRoot, "examples", "django");

    /// <summary>
    /// Maps a container path at the start of a value or after <c>=</c> or <c>:</c>, as in
    /// <c>--bind=unix:/run/gunicorn/gunicorn.sock</c>; the longest matching container path wins.
    /// </summary>
    public string MapPath(string value)
    {
        foreach (var (container, host) in _paths)
        {
            var match = Regex.Match(value, $"(^|[=:]){Regex.Escape(container)}(?=/|$)");
            if (match.Success)
            {
                return value[..match.Index] + match.Groups[1].Value + host + value[(match.Index + match.Length)..];
            }
        }

        return value;
    }

    /// <summary>The environment with paths mapped; envFrom ConfigMaps must exist in the rendering.</summary>
    public Dictionary<string, string> Environment()
    {
        var environment = new Dictionary<string, string>();
        foreach (var source in Container.EnvFrom ?? [])
        {
            var name = source.ConfigMapRef?.Name ?? throw new InvalidOperationException($"{Container.Name}: only configMapRef envFrom is expected");
            var map = _rendering.ConfigMap(name) ?? throw new InvalidOperationException($"{Container.Name}: envFrom ConfigMap {name} is not rendered");
            foreach (var (key, value) in map.Data)
            {
                environment[key] = value;
            }
        }

        foreach (var variable in Container.Env ?? [])
        {
            environment[variable.Name] = MapPath(variable.Value ?? throw new InvalidOperationException($"{Container.Name}: {variable.Name} has no literal value"));
        }

        return environment;
    }

    /// <summary>Executable and arguments: command + args, paths mapped.</summary>
    public (string FileName, List<string> Arguments) CommandLine()
    {
        var words = (Container.Command ?? []).Concat(Container.Args ?? []).Select(MapPath).ToList();
        Assert.NotEmpty(words);
        var fileName = words[0] is "python" or "python3" ? "/usr/bin/python3" : words[0];
        return (fileName, words.Skip(1).ToList());
    }

    /// <summary>The working directory: the container's workingDir or the image's WORKDIR.</summary>
    public string WorkingDirectory => MapPath(Container.WorkingDir ?? ImageWorkDir);

    /// <summary>Runs a container that is expected to finish (an init container, a Job).</summary>
    public ProcessRun.Result RunToCompletion(IDictionary<string, string>? overrides = null)
    {
        var (fileName, arguments) = CommandLine();
        return ProcessRun.Run(fileName, arguments, WorkingDirectory, Environment().Concat(overrides ?? new Dictionary<string, string>()));
    }

    /// <summary>Starts a long-running container (the app) with extra arguments appended.</summary>
    public ExternalProcess Start(IDictionary<string, string> overrides, params string[] extraArguments)
    {
        var (fileName, arguments) = CommandLine();
        var environment = Environment();
        foreach (var (key, value) in overrides)
        {
            environment[key] = value;
        }

        return new ExternalProcess(fileName, [.. arguments, .. extraArguments], WorkingDirectory, environment);
    }

    /// <summary>
    /// gunicorn's effective settings for this (app) container: its config file, command-line flags and
    /// environment, resolved by gunicorn's own config loader.
    /// </summary>
    public GunicornSettings Gunicorn()
    {
        var (fileName, arguments) = CommandLine();
        Assert.Equal("gunicorn", fileName);
        const string Script = """
            import json, sys
            from gunicorn.app.wsgiapp import WSGIApplication
            sys.argv = ["gunicorn"] + sys.argv[1:]
            c = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg
            print(json.dumps({"bind": c.bind, "graceful_timeout": c.graceful_timeout, "timeout": c.timeout,
                              "workers": c.workers, "worker_class": c.worker_class_str}))
            """;
        var result = ProcessRun.Run("/usr/bin/python3", ["-c", Script, .. arguments], WorkingDirectory, Environment());
        Assert.True(result.ExitCode == 0, $"gunicorn could not load its configuration: {result.Errors}");
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        return new GunicornSettings(
            root.GetProperty("bind").EnumerateArray().Select(b => b.GetString()!).ToList(),
            TimeSpan.FromSeconds(root.GetProperty("graceful_timeout").GetDouble()),
            TimeSpan.FromSeconds(root.GetProperty("timeout").GetDouble()),
            root.GetProperty("workers").GetInt32(),
            root.GetProperty("worker_class").GetString()!);
    }

    /// <summary>gunicorn's settings for the rendering's app container (no volumes needed to read them).</summary>
    public static GunicornSettings GunicornOf(Rendering rendering) =>
        new ContainerOnHost(rendering, rendering.App, ImagePaths(Path.Combine(DjangoSource, "staticfiles"))).Gunicorn();
}

public sealed record GunicornSettings(IReadOnlyList<string> Bind, TimeSpan GracefulTimeout, TimeSpan Timeout, int Workers, string WorkerClass);
