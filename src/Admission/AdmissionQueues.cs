using System.Collections.Concurrent;

namespace Sidecar.Admission;

/// <summary>
/// The queue of every cluster that has had a limit, by cluster id. Ids come from the configuration, so the
/// set stays small; a cluster removed by a reload keeps its (idle) queue, which costs nothing.
/// </summary>
public sealed class AdmissionQueues : IDisposable
{
    private readonly ConcurrentDictionary<string, AdmissionQueue> _queues = new(StringComparer.OrdinalIgnoreCase);

    public AdmissionQueues() => AdmissionMetrics.Track(this);

    public IEnumerable<AdmissionQueue> All => _queues.Values;

    public AdmissionQueue For(string clusterId) =>
        _queues.GetOrAdd(clusterId, static id => new AdmissionQueue(id));

    public AdmissionQueue? Find(string clusterId) => _queues.GetValueOrDefault(clusterId);

    public void Dispose() => AdmissionMetrics.Untrack(this);
}
