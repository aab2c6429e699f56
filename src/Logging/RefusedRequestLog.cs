using Sidecar.Configuration;
using Sidecar.Telemetry;

namespace Sidecar.Logging;

/// <summary>
/// Requests Kestrel refuses itself, before any middleware runs: a malformed request line or header, a missing or
/// repeated Host, a request line or head too large (414, 431), a head sent too slowly (408). Kestrel answers them with
/// an empty body and reports them only as a debug event, so a client's 400 left no trace in the log or the access
/// log, only in a metric. This logger provider takes that event (ConnectionBadRequest) and writes a warning naming
/// the cause, with the offending bytes as Kestrel quotes them, and an access-log line, as nginx does for the 400s it
/// answers before proxying.
/// </summary>
/// <remarks>
/// Kestrel raises the same event for a request body it could not read (bad chunking, too large, too slow) when it
/// drains what is left of it, with a new exception, after the middleware has already answered and logged that
/// request. The middleware names those connections with <see cref="MarkAnswered"/> so they are not reported twice.
/// </remarks>
public sealed class RefusedRequestLog(IServiceProvider services) : ILoggerProvider
{
    private const string KestrelCategory = "Microsoft.AspNetCore.Server.Kestrel";
    private const string BadRequestsCategory = KestrelCategory + ".BadRequests";
    private const int ConnectionBadRequest = 17;

    // Kestrel's report follows the middleware's answer within the same request, so remembering the last few hundred
    // connections is enough, and it stays bounded however many bodies fail.
    private static readonly string?[] Answered = new string?[256];
    private static int s_nextAnswered;

    private readonly EventLogger _events = new(services);

    public static void AddTo(ILoggingBuilder logging)
    {
        logging.Services.AddSingleton<ILoggerProvider, RefusedRequestLog>();
        logging.AddFilter<RefusedRequestLog>(null, LogLevel.None);
        logging.AddFilter<RefusedRequestLog>(BadRequestsCategory, LogLevel.Debug);
        // Kestrel quotes the offending request line or header in its message only when its own logger is enabled
        // at Information (decided once, at start-up); without this the message reads "Invalid request header: ''".
        logging.AddFilter<RefusedRequestLog>(KestrelCategory, LogLevel.Information);
    }

    /// <summary>For a request-body failure the middleware has answered and logged itself.</summary>
    public static void MarkAnswered(HttpContext context)
    {
        lock (Answered)
        {
            Answered[s_nextAnswered] = context.Connection.Id;
            s_nextAnswered = (s_nextAnswered + 1) % Answered.Length;
        }
    }

    private static bool WasAnswered(string? connectionId)
    {
        lock (Answered)
        {
            return connectionId is not null && Array.IndexOf(Answered, connectionId) >= 0;
        }
    }

    public ILogger CreateLogger(string categoryName) => categoryName switch
    {
        BadRequestsCategory => _events,
        KestrelCategory => DetailsSwitch.Instance,
        _ => Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
    };

    public void Dispose()
    {
    }

    private sealed class EventLogger(IServiceProvider services) : ILogger
    {
        // Resolved on first use: the logger factory that creates this provider cannot be a constructor dependency.
        private ILogger? _log;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id != ConnectionBadRequest || exception is not BadHttpRequestException refused)
            {
                return;
            }

            var connection = ConnectionId(state);
            if (WasAnswered(connection))
            {
                return;
            }

            var rejection = refused.StatusCode switch
            {
                StatusCodes.Status408RequestTimeout => ConnectionRejections.HeaderTimeout,
                StatusCodes.Status431RequestHeaderFieldsTooLarge => ConnectionRejections.HeadersTooLarge,
                _ => ConnectionRejections.BadRequest,
            };

            RequestMetricsObserver.CountRefused(refused.StatusCode);
            _log ??= services.GetRequiredService<ILoggerFactory>().CreateLogger("Sidecar.RefusedRequests");
            _log.LogWarning("{Status} for a request the HTTP server refused ({Rejection}): {Message} [connection {ConnectionId}]",
                refused.StatusCode, rejection, refused.Message, connection);

            if (services.GetRequiredService<ConfigHolder>().Settings.AccessLog)
            {
                services.GetRequiredService<AccessLogWriter>().Write(json =>
                {
                    json.WriteString("time", DateTime.UtcNow.ToString("O"));
                    json.WriteString("request_id", RequestIds.New());
                    json.WriteString("connection", connection);
                    json.WriteNumber("status", refused.StatusCode);
                    json.WriteString("rejection", rejection);
                    json.WriteString("error", refused.Message);
                });
            }
        }

        private static string? ConnectionId<TState>(TState state)
        {
            if (state is IReadOnlyList<KeyValuePair<string, object?>> fields)
            {
                foreach (var (key, value) in fields)
                {
                    if (key == "ConnectionId")
                    {
                        return value?.ToString();
                    }
                }
            }

            return null;
        }
    }

    /// <summary>Enabled at Information so Kestrel includes details in its messages; writes nothing.</summary>
    private sealed class DetailsSwitch : ILogger
    {
        public static readonly DetailsSwitch Instance = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
        }
    }
}
