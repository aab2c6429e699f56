using System.Diagnostics.Metrics;

namespace Sidecar.Telemetry;

/// <summary>
/// Counts the rejections Kestrel makes before any middleware runs: header timeout (slowloris), request bodies
/// and response reads below the minimum data rate, oversized or malformed request heads. Kestrel reports why it
/// closed each connection as the <c>error.type</c> tag of <c>kestrel.connection.duration</c> (.NET 10); this
/// listener reads that tag from this host's Kestrel only (meters from the host's <see cref="IMeterFactory"/>).
/// </summary>
internal sealed class ConnectionRejections : IDisposable
{
    private const string KestrelMeter = "Microsoft.AspNetCore.Server.Kestrel";
    private const string ConnectionDuration = "kestrel.connection.duration";
    private const string ErrorType = "error.type";

    public const string HeaderTimeout = "header_timeout";
    public const string SlowBody = "slow_body";
    public const string SlowRead = "slow_read";
    public const string HeadersTooLarge = "headers_too_large";
    public const string BadRequest = "bad_request";

    private readonly MeterListener _listener = new();

    public ConnectionRejections(IMeterFactory meterFactory)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == KestrelMeter && instrument.Name == ConnectionDuration && ReferenceEquals(instrument.Meter.Scope, meterFactory))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnConnectionEnded);
        _listener.Start();
    }

    /// <summary>Kestrel's connection end reason mapped to a rejection reason; null for endings that are not the sidecar refusing a client.</summary>
    internal static string? ReasonFor(string errorType) => errorType switch
    {
        "request_headers_timeout" => HeaderTimeout,
        "min_request_body_data_rate" => SlowBody,
        "min_response_data_rate" => SlowRead,
        "max_request_headers_total_size_exceeded" or "max_request_header_count_exceeded" => HeadersTooLarge,
        "invalid_request_line" or "invalid_request_headers" or "invalid_http_version" => BadRequest,
        _ => null,
    };

    private static void OnConnectionEnded(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == ErrorType && tag.Value is string errorType && ReasonFor(errorType) is { } reason)
            {
                SidecarMetrics.Rejections.WithLabels(reason).Inc();
                return;
            }
        }
    }

    public void Dispose() => _listener.Dispose();
}
