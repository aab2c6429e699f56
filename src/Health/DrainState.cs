namespace Sidecar.Health;

/// <summary>
/// Whether the sidecar is shutting down. Set at the first moment of SIGTERM so readiness turns false
/// before anything else happens; requests already accepted carry on.
/// </summary>
public sealed class DrainState
{
    private readonly CancellationTokenSource _queueClosed = new();
    private volatile bool _draining;

    public bool IsDraining => _draining;

    /// <summary>
    /// Cancelled shortly before DrainTimeout ends: requests still waiting for an upstream slot then get a 503 they
    /// can retry elsewhere, rather than a reset with the rest when the host cuts every connection.
    /// </summary>
    public CancellationToken QueueClosed => _queueClosed.Token;

    public void BeginDraining() => _draining = true;

    public void CloseQueue() => _queueClosed.Cancel();
}
