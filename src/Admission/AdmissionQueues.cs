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
        config.Replaced += LetWaitersOfRemovedLimitsThrough;
    }

    /// <summary>
    /// A reload that removes a cluster or its limit lets everyone waiting behind it through at once. Left to the
    /// cluster's next request, the waiters of a removed cluster (which gets none) were served one by one behind the
    /// old limit, unseen by the metrics, which follow the configuration in force.
    /// </summary>
    private void LetWaitersOfRemovedLimitsThrough()
    {
        var current = _config.Current;
        foreach (var (clusterId, queue) in _queues)
        {
            var cluster = current.FindCluster(clusterId);
            if (cluster is null || ClusterPolicy.For(cluster, current.Settings).MaxConcurrency == 0)
            {
                queue.Disable();
            }
        }
    }

    /// <summary>
    /// The queue of each configured cluster that has a limit, even before its first request (the queue metrics
    /// appeared only with a Pod's first proxied request, so an autoscaler reading them had no data for a new or idle
    /// Pod: FailedGetPodsMetric), and of each configured cluster whose limit a reload removed (showing 0). Called by
    /// the metrics on each scrape, so they follow the configuration in force: a removed cluster's series go.
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
                configured.Add(unlimited);
            }
        }

        return configured;
    }

    public AdmissionQueue For(string clusterId) =>
        _queues.GetOrAdd(clusterId, static id => new AdmissionQueue(id));

    public AdmissionQueue? Find(string clusterId) => _queues.GetValueOrDefault(clusterId);

    public void Dispose()
    {
        _config.Replaced -= LetWaitersOfRemovedLimitsThrough;
        AdmissionMetrics.Untrack(this);
    }
}
