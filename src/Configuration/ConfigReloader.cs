using System.Runtime.InteropServices;
using Yarp.ReverseProxy.Configuration;

namespace Sidecar.Configuration;

/// <summary>
/// Hot reload of the config file. Every <c>ConfigPollInterval</c> the file is read (following the symlinks a
/// ConfigMap volume consists of) and its hash, with the environment overrides, is compared with the config
/// in force. Comparing content rather than trusting file-change events catches the kubelet's <c>..data</c> symlink
/// swap (which the default .NET watcher misses), in-place edits, and replacements that keep the timestamp alike.
/// A changed file is parsed and validated completely (<see cref="ConfigValidation"/>) before anything changes;
/// on any problem the config in force stays and the rejection is logged once, with every reason.
/// SIGHUP reads the file at once, as it makes nginx reload, whatever the interval (0 included).
/// </summary>
public sealed class ConfigReloader(
    ConfigHolder holder,
    ConfigReloadStatus status,
    InMemoryConfigProvider proxy,
    IConfigValidator yarp,
    IConfiguration configuration,
    ILogger<ConfigReloader> logger) : BackgroundService
{
    private readonly ConfigValidation _validation = new(yarp);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string _lastSeen = holder.Current.Hash;
    private PosixSignalRegistration? _hangup;

    public enum Outcome { Unchanged, Applied, Rejected }

    private string? Lookup(string key) => configuration[key];

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Unhandled, SIGHUP ended the process on the spot and dropped every request in flight; scripts and
        // config-reloader containers written for nginx send it after each ConfigMap change.
        _hangup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            _ = Task.Run(CheckOnHangupAsync);
        });
        return base.StartAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _hangup?.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var (path, _) = ConfigLoader.ResolvePath(Lookup);
        LogWarnings(holder.Current);
        if (holder.Settings.ConfigPollInterval > TimeSpan.Zero)
        {
            logger.LogInformation("Watching {Path} for config changes every {Interval}; config {Hash} is in force",
                path, holder.Settings.ConfigPollInterval, holder.Current.Hash);
        }

        var atStart = true;
        while (!stoppingToken.IsCancellationRequested)
        {
            var interval = holder.Settings.ConfigPollInterval;
            if (interval <= TimeSpan.Zero)
            {
                if (atStart)
                {
                    logger.LogInformation("Config hot reload is off (ConfigPollInterval 0); {Path} is read again only on SIGHUP", path);
                }
                else
                {
                    logger.LogWarning("Config hot reload is now off (the config in force sets ConfigPollInterval 0): later changes to {Path} are read only on SIGHUP or at a restart", path);
                }

                return;
            }

            atStart = false;

            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            try
            {
                await CheckAsync();
            }
            catch (Exception e)
            {
                // The poller must outlive any surprise; the config in force is untouched when a check fails.
                logger.LogError(e, "Config reload check failed unexpectedly; keeping config {Hash}", holder.Current.Hash);
            }
        }
    }

    private async Task CheckOnHangupAsync()
    {
        var (path, _) = ConfigLoader.ResolvePath(Lookup);
        logger.LogInformation("SIGHUP: reading {Path} now", path);
        try
        {
            if (await CheckAsync() == Outcome.Unchanged)
            {
                logger.LogInformation("SIGHUP: {Path} is as last read; config {Hash} stays in force", path, holder.Current.Hash);
            }
        }
        catch (Exception e)
        {
            logger.LogError(e, "Config reload on SIGHUP failed unexpectedly; keeping config {Hash}", holder.Current.Hash);
        }
    }

    /// <summary>Reads the config file once and applies it when it differs from everything seen before.</summary>
    public async Task<Outcome> CheckAsync()
    {
        await _gate.WaitAsync();
        try
        {
            return await CheckLockedAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<Outcome> CheckLockedAsync()
    {
        var (path, isExplicit) = ConfigLoader.ResolvePath(Lookup);
        var running = holder.Current;
        byte[]? content = null;
        string seen;
        string? missing = null;
        if (File.Exists(path))
        {
            try
            {
                content = ConfigLoader.ReadFile(path);
                seen = ConfigLoader.Fingerprint(content, Lookup);
            }
            catch (ConfigException e)
            {
                seen = "unreadable: " + e.Message;
                missing = string.Join("; ", e.Problems);
            }
        }
        else
        {
            seen = ConfigLoader.Fingerprint(null, Lookup);
            // A file that was in force and is now gone is a ConfigMap being replaced or a deleting mistake, never a
            // request to fall back to defaults: that fallback is how a proxy ends up answering every request with 404.
            if (running.SourcePath is not null || isExplicit)
            {
                missing = $"config file not found ({ConfigLoader.ConfigVariable}={path})";
            }
        }

        if (seen == _lastSeen)
        {
            return Outcome.Unchanged;
        }

        _lastSeen = seen;
        if (missing is not null)
        {
            return Reject(path, [missing]);
        }

        if (seen == running.Hash)
        {
            // Back to the content in force (after a rejected or missing file): nothing to change.
            logger.LogInformation("Config file {Path} is back to the config in force ({Hash})", path, running.Hash);
            return Outcome.Unchanged;
        }

        SidecarConfig next;
        try
        {
            next = await _validation.ParseAsync(content, content is null ? null : path, Lookup);
        }
        catch (ConfigException e)
        {
            return Reject(e.ConfigSource, e.Problems);
        }

        var pending = ReloadScope.PendingRestart(running, next);
        if (pending.Count > 0)
        {
            next = ReloadScope.KeepRunningValues(next, pending, content, Lookup);
            status.RecordRestartRequired();
            logger.LogWarning(
                "Config {Hash} changes settings that take effect only after a restart: {Changes}; they keep their running values until then, the rest is applied now",
                next.Hash, string.Join(", ", pending));
        }

        // Settings first, then routing: a request that sees the new routes also sees the new settings. Requests in
        // flight keep the settings and route objects they started with.
        holder.Replace(next);
        proxy.Update(next.Routes, next.Clusters);
        status.RecordApplied(next);
        logger.LogInformation("Config {Hash} applied from {Path}{Revision}: {Routes} routes, {Clusters} clusters (was {Previous})",
            next.Hash, path, Revision(path), next.Routes.Count, next.Clusters.Count, running.Hash);
        LogWarnings(next);
        return Outcome.Applied;
    }

    private void LogWarnings(SidecarConfig config)
    {
        foreach (var warning in config.Warnings)
        {
            logger.LogWarning("Config {Hash}: {Warning}", config.Hash, warning);
        }
    }

    private Outcome Reject(string source, IReadOnlyList<string> problems)
    {
        status.RecordRejected();
        logger.LogWarning("Config reload rejected, keeping config {Hash} in force: {Source}: {Problems}",
            holder.Current.Hash, source, string.Join(" | ", problems));
        return Outcome.Rejected;
    }

    /// <summary>The kubelet's timestamped payload directory behind <c>..data</c>, to tell ConfigMap revisions apart in the log.</summary>
    private static string Revision(string path)
    {
        var data = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/", "..data");
        try
        {
            return new FileInfo(data).LinkTarget is { } target ? $" (ConfigMap payload {target})" : "";
        }
        catch (IOException)
        {
            return "";
        }
    }
}
