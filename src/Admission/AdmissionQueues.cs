using System.Collections.Concurrent;
using Sidecar.Configuration;

namespace Sidecar.Admission;

/// <summary>
/// The queue of every cluster that has had a limit, by cluster id. Ids come from the configuration, so the
/// set stays small; a cluster removed by a reload keeps its (idle) queue, which costs nothing.
/// </summary>
public sealed class AdmissionQueues : IDisposable
{
    private readonly ConcurrentDictionary<string, AdmissionQueue> _queues = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConfigHolder _config;

    public AdmissionQueues(ConfigHolder config)
    {
        _config = config;
        AdmissionMetrics.Track(this);
    }

    /// <summary>
    /// The queue of each configured cluster that has a limit, even before its first request (the queue metrics
    /// appeared only with a Pod's first proxied request, so an autoscaler reading them had no data for a new or idle
    /// Pod: FailedGetPodsMetric), and of each configured cluster whose limit a reload removed, brought to 0 at once.
    /// Called by the metrics on each scrape, so they follow the configuration in force: a removed cluster's series
    /// go, and a removed limit no longer shows until that cluster's next request.
    /// </summary>
    public IEnumerable<AdmissionQueue> WithConfiguredLimits()
    {
        var current = _config.Current;
        var configured = new List<AdmissionQueue>();
        foreach (var cluster in current.Clusters)
        {
            var limit = ClusterPolicy.For(cluster, current.Settings).MaxConcurrency;
            if (limit > 0)
            {
                var queue = For(cluster.ClusterId);
                queue.Resize(limit);
                configured.Add(queue);
            }
            else if (Find(cluster.ClusterId) is { } unlimited)
            {
                unlimited.Disable();
                configured.Add(unlimited);
            }
        }

        return configured;
    }

    public AdmissionQueue For(string clusterId) =>
        _queues.GetOrAdd(clusterId, static id => new AdmissionQueue(id));

    public AdmissionQueue? Find(string clusterId) => _queues.GetValueOrDefault(clusterId);

    public void Dispose() => AdmissionMetrics.Untrack(this);
}
