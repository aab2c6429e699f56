using Sidecar.Admission;
using Sidecar.Configuration;

namespace Sidecar.Tests.Admission;

/// <summary>The queue's own rules: FIFO order, limits that change under it, and waiters that leave.</summary>
public sealed class AdmissionQueueTests
{
    private static readonly TimeSpan Long = TimeSpan.FromMinutes(1);

    private static ClusterPolicy Limit(int concurrency, int queueLength = 100, TimeSpan? timeout = null) =>
        new(concurrency, queueLength, timeout ?? Long);

    [Fact]
    public async Task WaitersAreAdmittedInArrivalOrderAsSlotsFree()
    {
        var queue = new AdmissionQueue("fifo");
        var first = await queue.EnterAsync(Limit(1), CancellationToken.None);
        var waiting = Enumerable.Range(0, 3).Select(_ => queue.EnterAsync(Limit(1), CancellationToken.None).AsTask()).ToArray();
        Assert.Equal((3, 1, 1), queue.Snapshot());

        first.Lease!.Dispose();
        var second = await waiting[0];
        Assert.Equal(AdmissionOutcome.Admitted, second.Outcome);
        Assert.False(waiting[1].IsCompleted || waiting[2].IsCompleted, "only one slot was freed");

        second.Lease!.Dispose();
        var third = await waiting[1];
        Assert.False(waiting[2].IsCompleted);
        third.Lease!.Dispose();
        (await waiting[2]).Lease!.Dispose();
        Assert.Equal((0, 0, 1), queue.Snapshot());
    }

    [Fact]
    public async Task ReleasingTwiceFreesOneSlot()
    {
        var queue = new AdmissionQueue("twice");
        var a = await queue.EnterAsync(Limit(2), CancellationToken.None);
        var b = await queue.EnterAsync(Limit(2), CancellationToken.None);
        var c = queue.EnterAsync(Limit(2), CancellationToken.None).AsTask();

        // What happens when the spool signals the upstream is done and then forwarding ends.
        a.Lease!.OnUpstreamCompleted();
        a.Lease.Dispose();

        (await c).Lease!.Dispose();
        Assert.Equal((0, 1, 2), queue.Snapshot());
        b.Lease!.Dispose();
    }

    [Fact]
    public async Task ARaisedLimitAdmitsWaitersAheadOfNewcomers()
    {
        var queue = new AdmissionQueue("raise");
        var running = await queue.EnterAsync(Limit(1), CancellationToken.None);
        var queued = queue.EnterAsync(Limit(1), CancellationToken.None).AsTask();

        var newcomer = queue.EnterAsync(Limit(2), CancellationToken.None).AsTask();

        Assert.Equal(AdmissionOutcome.Admitted, (await queued).Outcome);
        Assert.False(newcomer.IsCompleted, "the slot the new limit opened belongs to the request that was already waiting");
        Assert.Equal((1, 2, 2), queue.Snapshot());
        running.Lease!.Dispose();
        Assert.Equal(AdmissionOutcome.Admitted, (await newcomer).Outcome);
    }

    [Fact]
    public async Task ALoweredLimitLetsRunningRequestsFinishBeforeAdmittingMore()
    {
        var queue = new AdmissionQueue("lower");
        var a = await queue.EnterAsync(Limit(2), CancellationToken.None);
        var b = await queue.EnterAsync(Limit(2), CancellationToken.None);

        var c = queue.EnterAsync(Limit(1), CancellationToken.None).AsTask();
        a.Lease!.Dispose();
        Assert.False(c.IsCompleted, "one request still runs and the limit is now one");
        b.Lease!.Dispose();
        Assert.Equal(AdmissionOutcome.Admitted, (await c).Outcome);
    }

    [Fact]
    public async Task TurningTheLimitOffLetsEveryoneWaitingThrough()
    {
        var queue = new AdmissionQueue("off");
        var running = await queue.EnterAsync(Limit(1), CancellationToken.None);
        var waiting = Enumerable.Range(0, 3).Select(_ => queue.EnterAsync(Limit(1), CancellationToken.None).AsTask()).ToArray();

        queue.Disable();

        Assert.All(await Task.WhenAll(waiting), a => Assert.Equal(AdmissionOutcome.Admitted, a.Outcome));
        Assert.Equal((0, 4, 0), queue.Snapshot());
        running.Lease!.Dispose();
    }

    [Fact]
    public async Task AFullQueueRefusesAtOnceAndZeroLengthMeansNoWaiting()
    {
        var queue = new AdmissionQueue("full");
        var running = await queue.EnterAsync(Limit(1, queueLength: 0), CancellationToken.None);

        var refused = await queue.EnterAsync(Limit(1, queueLength: 0), CancellationToken.None);

        Assert.Equal(AdmissionOutcome.QueueFull, refused.Outcome);
        Assert.Null(refused.Lease);
        running.Lease!.Dispose();
    }

    [Fact]
    public async Task WaitersThatTimeOutOrAreCancelledLeaveAndNeverTakeASlot()
    {
        var queue = new AdmissionQueue("leave");
        var running = await queue.EnterAsync(Limit(1), CancellationToken.None);
        using var gone = new CancellationTokenSource();
        using var closing = new CancellationTokenSource();
        var impatient = queue.EnterAsync(Limit(1, timeout: TimeSpan.FromMilliseconds(50)), CancellationToken.None).AsTask();
        var abandoned = queue.EnterAsync(Limit(1), gone.Token).AsTask();
        var drained = queue.EnterAsync(Limit(1), CancellationToken.None, closing.Token).AsTask();
        var patient = queue.EnterAsync(Limit(1), CancellationToken.None).AsTask();

        Assert.Equal(AdmissionOutcome.TimedOut, (await impatient).Outcome);
        gone.Cancel();
        Assert.Equal(AdmissionOutcome.ClientGone, (await abandoned).Outcome);
        closing.Cancel();
        Assert.Equal(AdmissionOutcome.ShuttingDown, (await drained).Outcome);
        Assert.Equal((1, 1, 1), queue.Snapshot());

        running.Lease!.Dispose();
        var admitted = await patient;
        Assert.Equal(AdmissionOutcome.Admitted, admitted.Outcome);
        Assert.Equal((0, 1, 1), queue.Snapshot());
        admitted.Lease!.Dispose();
    }

    [Fact]
    public async Task SaturationIsReportedWhenFullOrWhenTheOldestHasWaitedHalfTheTimeout()
    {
        var queue = new AdmissionQueue("saturated");
        var policy = Limit(1, queueLength: 2);
        var running = await queue.EnterAsync(policy, CancellationToken.None);
        Assert.Null(queue.Saturation(policy));

        var waiter = queue.EnterAsync(policy, CancellationToken.None).AsTask();
        await Task.Delay(20);
        Assert.Null(queue.Saturation(policy));
        Assert.Contains("oldest request has waited", queue.Saturation(policy with { QueueTimeout = TimeSpan.FromMilliseconds(2) }));
        Assert.Contains("is full", queue.Saturation(policy with { QueueLength = 1 }));

        running.Lease!.Dispose();
        (await waiter).Lease!.Dispose();
        Assert.Null(queue.Saturation(policy with { QueueLength = 0 }));
    }
}
