namespace Sidecar.Buffering;

/// <summary>
/// Lets a stage learn the moment the upstream has sent its whole response into the spool: the gunicorn worker
/// is free again, usually long before a slow client has read the response. Admission control sets this feature
/// to hand its upstream slot to the next queued request at that moment instead of when the client finishes.
/// Called at most once, on the spool pump's thread. Never called when the response is not spooled to its end
/// (buffering off, handed off past the disk limit, or failed): there the end of forwarding is the signal.
/// </summary>
public interface IUpstreamCompletionFeature
{
    void OnUpstreamCompleted();
}
