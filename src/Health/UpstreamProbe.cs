using System.Diagnostics;
using System.Net.Sockets;
using Sidecar.Configuration;

namespace Sidecar.Health;

/// <summary>
/// Answers "does the upstream accept connections?" with a TCP connect, at most once a second however
/// often the kubelet asks, so readiness checks never add load to gunicorn's accept queue.
/// </summary>
public sealed class UpstreamProbe(ConfigHolder config)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private (long At, string? Problem) _last;

    /// <summary>Null when the upstream accepted a connection, otherwise what went wrong.</summary>
    public async Task<string?> CheckAsync(CancellationToken cancellationToken)
    {
        if (_last.At != 0 && Stopwatch.GetElapsedTime(_last.At) < CacheFor)
        {
            return _last.Problem;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_last.At != 0 && Stopwatch.GetElapsedTime(_last.At) < CacheFor)
            {
                return _last.Problem;
            }

            var settings = config.Settings;
            var problem = await ConnectAsync(settings.Upstream, settings.UpstreamSocket, cancellationToken);
            _last = (Stopwatch.GetTimestamp(), problem);
            return problem;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static async Task<string?> ConnectAsync(Uri upstream, string? socketPath, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ConnectTimeout);
        var name = socketPath is null ? upstream.Authority : $"unix:{socketPath}";
        try
        {
            await Forwarding.UpstreamConnector.ConnectOnceAsync(upstream, socketPath, timeout.Token);
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return $"upstream {name} did not accept a connection within {ConnectTimeout.TotalSeconds:0} s";
        }
        catch (SocketException e)
        {
            return $"upstream {name}: {e.Message}";
        }
    }
}
