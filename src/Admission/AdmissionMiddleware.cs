using System.Diagnostics;
using Sidecar.Buffering;
using Sidecar.Configuration;
using Sidecar.Forwarding;
using Sidecar.Logging;

namespace Sidecar.Admission;

/// <summary>
/// Holds a request until its cluster has a free upstream slot. Runs inside YARP's pipeline right after request
/// buffering, so only complete requests wait and a gunicorn worker never waits on a client. A request that
/// waits too long or finds the queue full gets 503 with Retry-After; one whose client leaves is dropped; none of
/// them reaches the upstream.
/// </summary>
public sealed class AdmissionMiddleware(RequestDelegate next, ConfigHolder config, AdmissionQueues queues, Health.DrainState drain, ILogger<AdmissionMiddleware> logger)
{
    /// <summary>
    /// The sidecar cannot know when a slot frees up. A short hint spreads client retries over the next second,
    /// by when the Service may route them to another Pod or this one may have room.
    /// </summary>
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    public async Task InvokeAsync(HttpContext context)
    {
        // The cluster as the live configuration has it, so a reload's limits apply from the next request on.
        var current = config.Current;
        var cluster = current.FindCluster(context.GetReverseProxyFeature().Route.Config.ClusterId);
        if (cluster is null)
        {
            await next(context);
            return;
        }

        var policy = ClusterPolicy.For(cluster, current.Settings);
        if (policy.MaxConcurrency == 0)
        {
            // Anyone still waiting behind a limit a reload turned off was let through by that reload (AdmissionQueues).
            await next(context);
            return;
        }

        var queue = queues.For(cluster.ClusterId);
        var started = Stopwatch.GetTimestamp();
        var admission = await queue.EnterAsync(policy, context.RequestAborted, drain.QueueClosed);
        var waited = Stopwatch.GetElapsedTime(started);
        var record = context.Features.Get<RequestRecord>();
        if (record is not null)
        {
            record.QueueWait = waited;
        }

        if (admission.Lease is not { } lease)
        {
            await RefuseAsync(context, queue, policy, admission.Outcome, record);
            return;
        }

        using (lease)
        {
            if (context.RequestAborted.IsCancellationRequested)
            {
                // Admitted in the same instant the client left: give the slot straight back.
                await RefuseAsync(context, queue, policy, AdmissionOutcome.ClientGone, record);
                return;
            }

            queue.Metrics.Waited(waited);
            context.Features.Set<IUpstreamCompletionFeature>(lease);
            await next(context);
        }
    }

    private Task RefuseAsync(HttpContext context, AdmissionQueue queue, ClusterPolicy policy, AdmissionOutcome outcome, RequestRecord? record)
    {
        switch (outcome)
        {
            case AdmissionOutcome.QueueFull:
                queue.Metrics.Rejected(outcome);
                return ProxyErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, Rejection.QueueFull,
                    $"the upstream is busy: all {policy.MaxConcurrency} slots are in use and {policy.QueueLength} requests are already waiting (SIDECAR_QUEUE_LENGTH, or the cluster's Sidecar.QueueLength)",
                    logger, RetryAfter);
            case AdmissionOutcome.TimedOut:
                queue.Metrics.Rejected(outcome);
                return ProxyErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, Rejection.QueueTimeout,
                    $"the upstream is busy: no slot of {policy.MaxConcurrency} became free within {policy.QueueTimeout.TotalSeconds:0.###} s (SIDECAR_QUEUE_TIMEOUT, or the cluster's Sidecar.QueueTimeout)",
                    logger, RetryAfter);
            case AdmissionOutcome.ShuttingDown:
                queue.Metrics.Rejected(outcome);
                context.Response.Headers.Connection = "close";
                return ProxyErrors.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, Rejection.QueueTimeout,
                    "the sidecar is shutting down and no upstream slot came free before DrainTimeout; the app never saw this request, so it is safe to send again",
                    logger, RetryAfter);
            default:
                // Nobody is left to answer; the request simply never reaches the upstream.
                queue.Metrics.Rejected(outcome);
                if (record is not null)
                {
                    record.Rejection = Rejection.ClientAborted;
                }

                return Task.CompletedTask;
        }
    }
}
