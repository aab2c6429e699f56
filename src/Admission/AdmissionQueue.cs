using System.Diagnostics;
using Sidecar.Buffering;
using Sidecar.Configuration;

namespace Sidecar.Admission;

/// <summary>
/// One cluster's upstream slots and the FIFO queue in front of them (HAProxy's server maxconn + maxqueue +
/// timeout queue). The limit arrives with every request, read from the live configuration, so a reload
/// resizes the queue in place: a higher limit admits waiting requests at once, a lower one lets requests in
/// flight finish and admits no one until they are below it, and turning the limit off admits everyone waiting.
/// </summary>
public sealed class AdmissionQueue
{
    private readonly object _lock = new();
    private readonly LinkedList<Waiter> _waiting = new();

    // 0 = unlimited, as in the configuration.
    private int _limit;
    private int _inUse;

    public AdmissionQueue(string clusterId)
    {
        ClusterId = clusterId;
        Metrics = AdmissionMetrics.For(clusterId);
    }

    public string ClusterId { get; }

    public AdmissionMetrics.Cluster Metrics { get; }

    /// <summary>Requests waiting, slots in use and the limit (0 = none), read together.</summary>
    public (int Waiting, int InUse, int Limit) Snapshot()
    {
        lock (_lock)
        {
            return (_waiting.Count, _inUse, _limit);
        }
    }

    /// <summary>
    /// Waits for a slot. The returned lease must be disposed when the upstream is done with the request;
    /// a request that is refused or whose client goes away never holds one.
    /// </summary>
    public async ValueTask<Admission> EnterAsync(ClusterPolicy policy, CancellationToken clientGone, CancellationToken queueClosed = default)
    {
        Waiter waiter;
        lock (_lock)
        {
            ResizeLocked(policy.MaxConcurrency);
            if (_waiting.Count == 0 && HasFreeSlotLocked())
            {
                _inUse++;
                return new Admission(AdmissionOutcome.Admitted, new Lease(this));
            }

            if (_waiting.Count >= policy.QueueLength)
            {
                return new Admission(AdmissionOutcome.QueueFull, null);
            }

            waiter = new Waiter(this);
            _waiting.AddLast(waiter.Node);
        }

        using var timeout = new CancellationTokenSource(policy.QueueTimeout);
        await using var onTimeout = timeout.Token.UnsafeRegister(static w => ((Waiter)w!).Abandon(AdmissionOutcome.TimedOut), waiter);
        await using var onGone = clientGone.UnsafeRegister(static w => ((Waiter)w!).Abandon(AdmissionOutcome.ClientGone), waiter);
        await using var onClosed = queueClosed.UnsafeRegister(static w => ((Waiter)w!).Abandon(AdmissionOutcome.ShuttingDown), waiter);
        var outcome = await waiter.Task;
        return new Admission(outcome, outcome == AdmissionOutcome.Admitted ? new Lease(this) : null);
    }

    /// <summary>Applies a (re)configured limit before any request does, admitting waiters if it grew.</summary>
    public void Resize(int limit)
    {
        lock (_lock)
        {
            ResizeLocked(limit);
        }
    }

    /// <summary>The cluster's limit was turned off: nobody waits any more.</summary>
    public void Disable()
    {
        if (Volatile.Read(ref _limit) == 0)
        {
            return;
        }

        lock (_lock)
        {
            ResizeLocked(0);
        }
    }

    /// <summary>
    /// Whether the next request would be refused (no free slot and no room to wait), or the oldest waiting
    /// request has already used half of its queue timeout: either way this Pod is past its capacity.
    /// </summary>
    public string? Saturation(ClusterPolicy policy)
    {
        lock (_lock)
        {
            if (_limit == 0 || HasFreeSlotLocked())
            {
                return null;
            }

            if (_waiting.Count >= policy.QueueLength)
            {
                return $"upstream queue of cluster '{ClusterId}' is full ({_inUse} of {_limit} slots busy, {_waiting.Count} waiting)";
            }

            var oldest = _waiting.First is { } first ? Stopwatch.GetElapsedTime(first.Value.Since) : TimeSpan.Zero;
            return oldest >= policy.QueueTimeout / 2
                ? $"upstream queue of cluster '{ClusterId}' is saturated (oldest request has waited {oldest.TotalSeconds:0.0} s of {policy.QueueTimeout.TotalSeconds:0.#} s)"
                : null;
        }
    }

    private bool HasFreeSlotLocked() => _limit == 0 || _inUse < _limit;

    private void ResizeLocked(int limit)
    {
        if (_limit != limit)
        {
            Volatile.Write(ref _limit, limit);
            AdmitWaitingLocked();
        }
    }

    private void Release()
    {
        lock (_lock)
        {
            _inUse--;
            AdmitWaitingLocked();
        }
    }

    private void AdmitWaitingLocked()
    {
        while (_waiting.First is { } first && HasFreeSlotLocked())
        {
            _waiting.RemoveFirst();
            _inUse++;
            // Continuations run asynchronously, so completing under the lock never runs a request's code here.
            first.Value.Complete(AdmissionOutcome.Admitted);
        }
    }

    /// <summary>A queued request. Leaves the queue exactly once: admitted by a release, or abandoned by its timeout or its client.</summary>
    private sealed class Waiter
    {
        private readonly AdmissionQueue _queue;
        private readonly TaskCompletionSource<AdmissionOutcome> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Waiter(AdmissionQueue queue)
        {
            _queue = queue;
            Node = new LinkedListNode<Waiter>(this);
        }

        public LinkedListNode<Waiter> Node { get; }

        public long Since { get; } = Stopwatch.GetTimestamp();

        public Task<AdmissionOutcome> Task => _done.Task;

        public void Complete(AdmissionOutcome outcome) => _done.TrySetResult(outcome);

        public void Abandon(AdmissionOutcome outcome)
        {
            lock (_queue._lock)
            {
                // Already admitted: the caller sees Admitted and releases the slot itself if its client is gone.
                if (Node.List is null)
                {
                    return;
                }

                _queue._waiting.Remove(Node);
            }

            Complete(outcome);
        }
    }

    /// <summary>
    /// A held upstream slot. Released when the upstream has delivered the whole response into the spool
    /// (the gunicorn worker is free) or when forwarding ends, whichever comes first; releasing twice is harmless.
    /// </summary>
    public sealed class Lease(AdmissionQueue queue) : IUpstreamCompletionFeature, IDisposable
    {
        private int _released;

        public void OnUpstreamCompleted() => Dispose();

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                queue.Release();
            }
        }
    }
}

public enum AdmissionOutcome
{
    Admitted,
    QueueFull,
    TimedOut,
    ClientGone,
    ShuttingDown,
}

/// <summary>The result of waiting for a slot: the lease is set only when admitted.</summary>
public readonly record struct Admission(AdmissionOutcome Outcome, AdmissionQueue.Lease? Lease);
