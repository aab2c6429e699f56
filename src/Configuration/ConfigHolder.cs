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

    public void Replace(SidecarConfig next) => Volatile.Write(ref _current, next);
}
