using System.Globalization;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Admission;

/// <summary>
/// Reads the sidecar's admission metrics as Prometheus does: GET /metrics on the admin port, parsed series by
/// series. Counters and histograms are read as increases since this reader was made, as rate() would, because
/// prometheus-net's registry is process-wide and outlives a single sidecar host in the test process.
/// </summary>
public sealed class QueueMetrics : IDisposable
{
    /// <summary>
    /// The queue gauges add up every live host's queues in the process, so tests whose sidecars have a limit
    /// on the same cluster id must not run at the same time.
    /// </summary>
    public const string Collection = "admission metrics";

    private const string Cluster = "cluster=\"upstream\"";

    private readonly HttpClient _admin;
    private readonly string _baseline;

    public QueueMetrics(SidecarFactory sidecar)
    {
        _admin = sidecar.Client(admin: true);
        _baseline = ScrapeAsync().GetAwaiter().GetResult();
    }

    public Task<string> ScrapeAsync() => _admin.GetStringAsync("/metrics");

    public void Dispose() => _admin.Dispose();

    private Task<double> GaugeAsync(string name) => ValueAsync(name, null, cumulative: false);

    private async Task<double> ValueAsync(string name, string? extraLabel, bool cumulative = true)
    {
        var now = Find(await ScrapeAsync(), name, extraLabel);
        return cumulative ? now - Find(_baseline, name, extraLabel) : now;
    }

    private static double Find(string text, string name, string? extraLabel)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal))
            {
                continue;
            }

            var labels = line[(name.Length + 1)..line.IndexOf('}')];
            if (labels.Contains(Cluster, StringComparison.Ordinal) && (extraLabel is null || labels.Contains(extraLabel, StringComparison.Ordinal)))
            {
                return double.Parse(line[(line.IndexOf('}') + 1)..].Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    public Task<double> Waiting() => GaugeAsync("sidecar_queue_requests");

    public Task<double> InUse() => GaugeAsync("sidecar_upstream_concurrency_requests");

    public Task<double> Limit() => GaugeAsync("sidecar_upstream_concurrency_limit_requests");

    public Task<double> Rejections(string reason) => ValueAsync("sidecar_queue_rejections_total", $"reason=\"{reason}\"");

    public Task<double> WaitCount() => ValueAsync("sidecar_queue_wait_seconds_count", null);

    public Task<double> WaitSum() => ValueAsync("sidecar_queue_wait_seconds_sum", null);

    public Task<double> WaitBucket(string le) => ValueAsync("sidecar_queue_wait_seconds_bucket", $"le=\"{le}\"");

    /// <summary>Polls until <paramref name="read"/> reaches <paramref name="expected"/>; the queue changes asynchronously to the client.</summary>
    public static async Task UntilAsync(Func<Task<double>> read, double expected, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        double last;
        while ((last = await read()) != expected)
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"{what}: expected {expected}, still {last} after 15 s");
            }

            await Task.Delay(20);
        }
    }
}
