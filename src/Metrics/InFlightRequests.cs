using System.Collections.Concurrent;
using Sidecar.Logging;

namespace Sidecar.Telemetry;

/// <summary>
/// The requests between arrival and end, kept so a scrape can count both how many clients are waiting and how
/// many of those are currently occupying the upstream (handed over, response not yet fully read).
/// </summary>
internal sealed class InFlightRequests
{
    private readonly ConcurrentDictionary<RequestRecord, byte> _active = new(ReferenceEqualityComparer.Instance);

    public int Count => _active.Count;

    public int AtUpstream
    {
        get
        {
            var count = 0;
            foreach (var (record, _) in _active)
            {
                if (record.UpstreamStart != 0 && record.UpstreamEnd == 0)
                {
                    count++;
                }
            }

            return count;
        }
    }

    public void Add(RequestRecord record) => _active.TryAdd(record, 0);

    public void Remove(RequestRecord record) => _active.TryRemove(record, out _);
}

/// <summary>Registers each application-port request with <see cref="InFlightRequests"/> until it ends; placed right after the access log, which creates the record.</summary>
internal sealed class InFlightMiddleware(RequestDelegate next, InFlightRequests inFlight)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var record = context.Features.Get<RequestRecord>();
        if (record is null)
        {
            await next(context);
            return;
        }

        inFlight.Add(record);
        try
        {
            await next(context);
        }
        finally
        {
            inFlight.Remove(record);
        }
    }
}
