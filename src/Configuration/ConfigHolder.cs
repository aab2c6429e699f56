namespace Sidecar.Configuration;

/// <summary>
/// The configuration in force. Request handling reads <see cref="Current"/> once per request, so a reload
/// that swaps it never changes the settings under a request already in flight.
/// </summary>
public sealed class ConfigHolder(SidecarConfig initial)
{
    private SidecarConfig _current = initial;

    public SidecarConfig Current => Volatile.Read(ref _current);

    public SidecarSettings Settings => Current.Settings;

    /// <summary>Raised after a reload put a new config in force, for state that must follow it at once.</summary>
    public event Action? Replaced;

    public void Replace(SidecarConfig next)
    {
        Volatile.Write(ref _current, next);
        Replaced?.Invoke();
    }
}
