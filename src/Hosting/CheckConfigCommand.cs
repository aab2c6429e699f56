using Sidecar.Configuration;

namespace Sidecar.Hosting;

/// <summary>
/// <c>sidecar --check-config [FILE]</c>: nginx -t for this product. The same validation as start-up and every
/// reload (<see cref="ConfigValidation"/>, including YARP's own route and cluster checks), with the same messages.
/// </summary>
public static class CheckConfigCommand
{
    public const string Flag = "--check-config";

    /// <param name="variableNames">The names in the environment, to warn about SIDECAR_* variables that are no setting.</param>
    public static int Run(string[] args, Func<string, string?> environment, TextWriter output, TextWriter errors, IEnumerable<string>? variableNames = null)
    {
        if (args.Length > 2)
        {
            errors.WriteLine($"usage: sidecar {Flag} [FILE]");
            return 2;
        }

        Func<string, string?> lookup = args.Length == 2
            ? key => key == ConfigLoader.ConfigVariable ? args[1] : environment(key)
            : environment;
        try
        {
            var config = ConfigValidation.Standalone().LoadAsync(lookup).GetAwaiter().GetResult();
            output.WriteLine($"configuration OK: {config.SourcePath ?? "no config file, defaults and environment"} " +
                $"({config.Routes.Count} routes, {config.Clusters.Count} clusters, hash {config.Hash})");
            foreach (var warning in config.Warnings.Concat(SettingsCatalog.UnknownVariables(variableNames ?? [])).Concat(DirectoryProblems(config)))
            {
                output.WriteLine($"  warning: {warning}");
            }

            return 0;
        }
        catch (ConfigException e)
        {
            errors.WriteLine($"configuration invalid: {e.ConfigSource}");
            foreach (var problem in e.Problems)
            {
                errors.WriteLine($"  - {problem}");
            }

            return 1;
        }
    }

    /// <summary>
    /// What start-up would say about this machine's directories, where the check runs beside the sidecar (an init
    /// container, a CI job with the volumes mounted): a static root that is not there, a temp dir it cannot write.
    /// </summary>
    private static IEnumerable<string> DirectoryProblems(SidecarConfig config)
    {
        foreach (var mount in StaticFiles.StaticMount.FromSettings(config.Settings).Where(m => !Directory.Exists(m.Root)))
        {
            yield return $"static files for {mount.Url}: directory {mount.Root} does not exist here; nothing is served from it";
        }

        if (new Buffering.SpoolStore(new ConfigHolder(config)).Problem() is { } spool)
        {
            yield return spool;
        }
    }
}
