namespace Sidecar.Configuration;

/// <summary>
/// The outcome of configuration loads, for metrics and logs: how many reloads were applied or rejected,
/// when the last good one was applied, and the hash of the configuration in force.
/// </summary>
public sealed class ConfigReloadStatus(SidecarConfig initial)
{
    private long _applied;
    private long _rejected;
    private long _restartRequired;

    public long Applied => Interlocked.Read(ref _applied);

    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Reloads whose changes include settings that only take effect after a restart.</summary>
    public long RestartRequired => Interlocked.Read(ref _restartRequired);

    public DateTimeOffset LastApplied { get; private set; } = DateTimeOffset.UtcNow;

    public string ActiveHash { get; private set; } = initial.Hash;

    public void RecordApplied(SidecarConfig config)
    {
        ActiveHash = config.Hash;
        LastApplied = DateTimeOffset.UtcNow;
        Interlocked.Increment(ref _applied);
    }

    public void RecordRejected() => Interlocked.Increment(ref _rejected);

    public void RecordRestartRequired() => Interlocked.Increment(ref _restartRequired);
}
