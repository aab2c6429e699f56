using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Admission;

/// <summary>
/// Real gunicorn (2 sync workers) behind a sidecar that allows one request at a time, with that one slot
/// already taken by a request sleeping in the app: whatever a test sends next has to queue.
/// </summary>
public sealed class OneSlotUpstream : IAsyncDisposable
{
    private OneSlotUpstream(Gunicorn gunicorn, SidecarFactory sidecar, QueueMetrics metrics, Task<HttpResponseMessage> holder)
    {
        Gunicorn = gunicorn;
        Sidecar = sidecar;
        Metrics = metrics;
        Holder = holder;
        Client = sidecar.Client();
    }

    public Gunicorn Gunicorn { get; }

    public SidecarFactory Sidecar { get; }

    public QueueMetrics Metrics { get; }

    public HttpClient Client { get; }

    /// <summary>The request holding the slot.</summary>
    public Task<HttpResponseMessage> Holder { get; }

    public static async Task<OneSlotUpstream> StartAsync(double holdSeconds, IDictionary<string, string> settings)
    {
        var gunicorn = await Gunicorn.StartAsync(2);
        var sidecar = new SidecarFactory(gunicorn.Address, new Dictionary<string, string>(settings) { ["SIDECAR_UPSTREAM_CONCURRENCY"] = "1" });
        var metrics = new QueueMetrics(sidecar);
        var holder = sidecar.Client().GetAsync($"/sleep?s={holdSeconds}");
        await QueueMetrics.UntilAsync(metrics.InUse, 1, "slot taken by the holding request");
        return new OneSlotUpstream(gunicorn, sidecar, metrics, holder);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        Metrics.Dispose();
        Sidecar.Dispose();
        await Gunicorn.DisposeAsync();
    }
}
