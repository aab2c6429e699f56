using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Prometheus;
using Sidecar.Logging;
using Sidecar.Telemetry;

namespace Sidecar.Micro;

/// <summary>
/// What metrics cost: the observer every request runs when it ends (label lookups, counter and histogram
/// updates), and one scrape of the whole default registry as Prometheus would pull it.
/// </summary>
[MemoryDiagnoser]
public class MetricsBenchmarks
{
    private readonly RequestMetricsObserver _observer = new();
    private DefaultHttpContext _context = null!;
    private RequestRecord _record = null!;

    [GlobalSetup]
    public void Setup()
    {
        _context = Fixtures.Request();
        _context.Response.StatusCode = 200;
        _context.Response.ContentLength = 18;
        var now = Stopwatch.GetTimestamp();
        _record = new RequestRecord(now - Stopwatch.Frequency / 100, "0192f5d2c3b47c4e9a1b2c3d4e5f6a7b")
        {
            Route = "default",
            UpstreamStart = now - Stopwatch.Frequency / 200,
            UpstreamHeaders = now - Stopwatch.Frequency / 400,
            UpstreamEnd = now - Stopwatch.Frequency / 500,
            ResponseBufferTime = TimeSpan.FromMilliseconds(0.2),
        };

        // A registry as populated as a running sidecar's: a few routes, every status class.
        foreach (var route in new[] { "default", "api", "admin", "static" })
        {
            foreach (var status in new[] { 200, 301, 404, 502 })
            {
                var context = Fixtures.Request();
                context.Response.StatusCode = status;
                _observer.OnCompleted(context, new RequestRecord(now, "x") { Route = route, UpstreamStart = now, UpstreamHeaders = now });
            }
        }
    }

    [Benchmark(Description = "metrics observer, one proxied request")]
    public void Observe() => _observer.OnCompleted(_context, _record);

    [Benchmark(Description = "scrape: default registry to text")]
    public Task Scrape() => Metrics.DefaultRegistry.CollectAndExportAsTextAsync(Stream.Null);
}
