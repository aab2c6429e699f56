using Sidecar.Configuration;
using Sidecar.Health;

namespace Sidecar.Admission;

/// <summary>
/// With QueueReadiness on, /healthz/ready fails while any cluster's queue is saturated, so the Service stops
/// sending this Pod new traffic until it catches up. Off by default: with a single replica, not ready means
/// every request fails instead of waiting.
/// </summary>
public sealed class QueueReadinessCheck(ConfigHolder config, AdmissionQueues queues) : IReadinessCheck
{
    public string? Problem()
    {
        var current = config.Current;
        if (!current.Settings.QueueReadiness)
        {
            return null;
        }

        foreach (var cluster in current.Clusters)
        {
            var policy = ClusterPolicy.For(cluster, current.Settings);
            if (policy.MaxConcurrency > 0 && queues.Find(cluster.ClusterId)?.Saturation(policy) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }
}
