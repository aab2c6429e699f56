using System.Collections.Concurrent;
using Prometheus;
using Sidecar.Logging;

namespace Sidecar.StaticFiles;

/// <summary>
/// Static-file counters for Prometheus, fed from the request record when a request ends. Labels are bounded:
/// mount names come from configuration, encodings are three, statuses the handful a static answer can have.
/// </summary>
public sealed class StaticMetrics : IRequestObserver
{
    private static readonly Counter Responses = Metrics.CreateCounter(
        "sidecar_static_responses_total",
        "Responses answered from a static mount, by mount, content coding and status.",
        new CounterConfiguration { LabelNames = ["mount", "encoding", "status"] });

    private static readonly Counter Saved = Metrics.CreateCounter(
        "sidecar_static_compression_saved_bytes_total",
        "Bytes not sent because a static response went out compressed (identity length minus length sent).",
        new CounterConfiguration { LabelNames = ["mount", "encoding"] });

    private readonly ConcurrentDictionary<(string Mount, string Encoding, int Status), Counter.Child> _responses = new();
    private readonly ConcurrentDictionary<(string Mount, string Encoding), Counter.Child> _saved = new();

    public void OnCompleted(HttpContext context, RequestRecord record)
    {
        if (record.StaticMount is not { } mount)
        {
            return;
        }

        var encoding = record.StaticEncoding ?? StaticVariant.IdentityCoding;
        var status = context.Response.StatusCode;
        // Label lookups allocate; the few combinations that exist are resolved once.
        _responses.GetOrAdd((mount, encoding, status), static key => Responses.WithLabels(key.Mount, key.Encoding, StatusLabel(key.Status))).Inc();
        if (status == StatusCodes.Status200OK && record.StaticBytesSaved > 0 && !HttpMethods.IsHead(context.Request.Method))
        {
            _saved.GetOrAdd((mount, encoding), static key => Saved.WithLabels(key.Mount, key.Encoding)).Inc(record.StaticBytesSaved);
        }
    }


    private static string StatusLabel(int status) => status switch
    {
        200 => "200",
        206 => "206",
        304 => "304",
        404 => "404",
        405 => "405",
        412 => "412",
        416 => "416",
        _ => status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
