using Prometheus;

namespace Sidecar.Admission;

/// <summary>
/// Prometheus series for admission control, in prometheus-net's default registry (which /metrics serves),
/// labelled by cluster id only (bounded by the configuration). Demand on the workers, for an autoscaler, is
/// <c>(sidecar_upstream_concurrency_requests + sidecar_queue_requests) / sidecar_upstream_concurrency_limit_requests</c>:
/// above 1, requests are waiting.
/// </summary>
public static class AdmissionMetrics
{
    private const string ClusterLabel = "cluster";

    /// <summary>From 1 ms to past the longest sensible QueueTimeout; requests admitted at once land in the first bucket.</summary>
    private static readonly double[] WaitBuckets = [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60];

    private static readonly Gauge Queued = Metrics.CreateGauge("sidecar_queue_requests",
        "Requests waiting in the sidecar for a free upstream slot (their bodies already buffered).", ClusterLabel);

    private static readonly Gauge InUse = Metrics.CreateGauge("sidecar_upstream_concurrency_requests",
        "Requests holding an upstream slot: forwarded, and their response not yet fully received from the upstream. Counted only while the cluster has a limit.",
        ClusterLabel);

    private static readonly Gauge Limit = Metrics.CreateGauge("sidecar_upstream_concurrency_limit_requests",
        "The cluster's upstream concurrency limit (UpstreamConcurrency or the cluster's Sidecar.MaxConcurrency); 0 = no limit.", ClusterLabel);

    private static readonly Histogram Wait = Metrics.CreateHistogram("sidecar_queue_wait_seconds",
        "Time forwarded requests waited for an upstream slot; 0 for those admitted at once.",
        new HistogramConfiguration { LabelNames = [ClusterLabel], Buckets = WaitBuckets });

    private static readonly Counter Rejections = Metrics.CreateCounter("sidecar_queue_rejections_total",
        "Requests that left the queue without reaching the upstream, by reason: queue_full and queue_timeout (answered 503), client_aborted (the client went away while waiting).",
        ClusterLabel, "reason");

    private static readonly Lock Gate = new();
    private static readonly List<AdmissionQueues> Live = [];
    private static readonly HashSet<string> Published = new(StringComparer.OrdinalIgnoreCase);
    private static bool _callbackRegistered;

    public static Cluster For(string clusterId) => new(clusterId);

    /// <summary>
    /// Queue depth and slots in use are read when Prometheus scrapes, from every live host's queues: the registry
    /// is process-wide while the queues belong to a host, so values pushed by a host that has since gone (as in
    /// tests, which start many) would otherwise linger.
    /// </summary>
    internal static void Track(AdmissionQueues host)
    {
        lock (Gate)
        {
            Live.Add(host);
            if (!_callbackRegistered)
            {
                // prometheus-net cannot remove a callback, so exactly one is registered per process.
                Metrics.DefaultRegistry.AddBeforeCollectCallback(Update);
                _callbackRegistered = true;
            }
        }
    }

    internal static void Untrack(AdmissionQueues host)
    {
        lock (Gate)
        {
            Live.Remove(host);
        }
    }

    private static void Update()
    {
        lock (Gate)
        {
            var totals = new Dictionary<string, (int Waiting, int InUse, int Limit)>(StringComparer.OrdinalIgnoreCase);
            foreach (var queue in Live.SelectMany(host => host.WithConfiguredLimits()))
            {
                var (waiting, inUse, limit) = queue.Snapshot();
                var sum = totals.GetValueOrDefault(queue.ClusterId);
                totals[queue.ClusterId] = (sum.Waiting + waiting, sum.InUse + inUse, sum.Limit + limit);
            }

            foreach (var gone in Published.Where(id => !totals.ContainsKey(id)).ToList())
            {
                Queued.RemoveLabelled(gone);
                InUse.RemoveLabelled(gone);
                Limit.RemoveLabelled(gone);
                Published.Remove(gone);
            }

            foreach (var (id, (waiting, inUse, limit)) in totals)
            {
                Queued.WithLabels(id).Set(waiting);
                InUse.WithLabels(id).Set(inUse);
                Limit.WithLabels(id).Set(limit);
                Published.Add(id);
            }
        }
    }

    /// <summary>One cluster's event series, resolved once so the hot path does no label lookups.</summary>
    public sealed class Cluster(string clusterId)
    {
        private readonly Histogram.Child _wait = Wait.WithLabels(clusterId);
        private readonly Counter.Child _full = Rejections.WithLabels(clusterId, Logging.Rejection.QueueFull);
        private readonly Counter.Child _timeout = Rejections.WithLabels(clusterId, Logging.Rejection.QueueTimeout);
        private readonly Counter.Child _gone = Rejections.WithLabels(clusterId, Logging.Rejection.ClientAborted);

        public void Waited(TimeSpan wait) => _wait.Observe(wait.TotalSeconds);

        public void Rejected(AdmissionOutcome outcome) => (outcome switch
        {
            AdmissionOutcome.QueueFull => _full,
            AdmissionOutcome.TimedOut or AdmissionOutcome.ShuttingDown => _timeout,
            _ => _gone,
        }).Inc();
    }
}
