using System.Globalization;
using System.Text.Json;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.Telemetry;

/// <summary>
/// A real Prometheus server (Debian package) on a free loopback port, scraping one target every second,
/// with its TSDB in a temp directory. Queried through its HTTP API, as a dashboard or alert would.
/// </summary>
public sealed class PrometheusServer : IAsyncDisposable
{
    private readonly ExternalProcess _process;
    private readonly string _directory;
    private readonly HttpClient _http;

    private PrometheusServer(ExternalProcess process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
    }

    public string Output => _process.Output;

    /// <summary>Starts Prometheus scraping <paramref name="target"/>'s /metrics, evaluating <paramref name="ruleFiles"/> every second.</summary>
    public static async Task<PrometheusServer> StartAsync(Uri target, string job = "sidecar", params string[] ruleFiles)
    {
        var directory = Directory.CreateTempSubdirectory("sidecar-prometheus-").FullName;
        var config = Path.Combine(directory, "prometheus.yml");
        var rules = string.Concat(ruleFiles.Select(file => $"\n  - '{file}'"));
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            rule_files:{rules}
            scrape_configs:
              - job_name: {job}
                metrics_path: /metrics
                static_configs:
                  - targets: ['{target.Authority}']
            """);
        var port = Ports.Free();
        var process = new ExternalProcess("prometheus",
        [
            $"--config.file={config}",
            $"--storage.tsdb.path={Path.Combine(directory, "data")}",
            $"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]);
        var server = new PrometheusServer(process, directory, port);
        try
        {
            await server.WaitReadyAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var response = await _http.GetAsync("/-/ready");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"prometheus not ready within {timeout}: {Output}");
    }

    /// <summary>The instant query's samples as (labels, value); empty when the expression matches nothing.</summary>
    public async Task<IReadOnlyList<(IReadOnlyDictionary<string, string> Labels, double Value)>> QueryAsync(string expression)
    {
        using var response = await _http.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(expression));
        var body = await response.Content.ReadAsStringAsync();
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            throw new InvalidOperationException($"query '{expression}' failed: {body}");
        }

        var samples = new List<(IReadOnlyDictionary<string, string>, double)>();
        foreach (var result in root.GetProperty("data").GetProperty("result").EnumerateArray())
        {
            var labels = result.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");
            var value = double.Parse(result.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);
            samples.Add((labels, value));
        }

        return samples;
    }

    /// <summary>The single value of a scalar-like expression, or null when it matches nothing.</summary>
    public async Task<double?> ValueAsync(string expression)
    {
        var samples = await QueryAsync(expression);
        return samples.Count switch
        {
            0 => null,
            1 => samples[0].Value,
            _ => throw new InvalidOperationException($"'{expression}' matched {samples.Count} series; expected one"),
        };
    }

    /// <summary>
    /// Polls until the expression has the expected value (scrapes arrive every second) and returns what it saw
    /// last, so the caller asserts the exact value and a mismatch shows the real number.
    /// </summary>
    public async Task<double?> WaitForValueAsync(string expression, double expected, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        double? last;
        while (true)
        {
            last = await ValueAsync(expression);
            if (last == expected || DateTime.UtcNow > deadline)
            {
                return last;
            }

            await Task.Delay(250);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _process.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // Prometheus may still be closing its TSDB files; a leftover temp directory is harmless.
        }
    }
}
