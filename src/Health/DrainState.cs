namespace Sidecar.Health;

/// <summary>
/// Whether the sidecar is shutting down. Set at the first moment of SIGTERM so readiness turns false
/// before anything else happens; requests already accepted carry on.
/// </summary>
public sealed class DrainState
{
    private volatile bool _draining;

    public bool IsDraining => _draining;

    public void BeginDraining() => _draining = true;
}
