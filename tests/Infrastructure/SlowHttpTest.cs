using System.Diagnostics;

namespace Sidecar.Tests.Infrastructure;

/// <summary>
/// Runs a real slowhttptest attack while a fast client probes the target, the way the reference numbers in
/// shared/bench were taken: a plain GET every 50 ms with a 5 s timeout, started a few seconds into the attack.
/// </summary>
public static class SlowHttpTest
{
    public sealed record ProbeResult(int Sent, int Answered, TimeSpan P99)
    {
        public double Availability => Sent == 0 ? 0 : (double)Answered / Sent;

        public override string ToString() => $"{Answered}/{Sent} probes answered, p99 {P99.TotalMilliseconds:0} ms";
    }

    /// <summary>The attacks of shared/bench/README.md, shortened to <paramref name="seconds"/>.</summary>
    public static string[] Attack(string mode, Uri target, int seconds) => mode switch
    {
        "slow-post" => ["-c", "200", "-B", "-i", "5", "-r", "100", "-s", "8192", "-t", "POST", "-u", new Uri(target, "/echo").ToString(), "-x", "10", "-p", "3", "-l", seconds.ToString()],
        "slow-post-400bps" => ["-c", "200", "-B", "-i", "1", "-r", "100", "-s", "131072", "-t", "POST", "-u", new Uri(target, "/echo").ToString(), "-x", "400", "-p", "3", "-l", seconds.ToString()],
        "slowloris" => ["-c", "500", "-H", "-i", "10", "-r", "200", "-t", "GET", "-u", new Uri(target, "/hello").ToString(), "-x", "24", "-p", "3", "-l", seconds.ToString()],
        "slow-read" => ["-c", "100", "-X", "-r", "100", "-w", "10", "-y", "20", "-n", "5", "-z", "32", "-k", "3", "-u", new Uri(target, "/big?size=4194304").ToString(), "-p", "3", "-l", seconds.ToString()],
        _ => throw new ArgumentOutOfRangeException(nameof(mode)),
    };

    public static async Task<ProbeResult> RunAsync(string mode, Uri target, int attackSeconds = 14, int probeFrom = 4, int probeFor = 8)
    {
        await using var attack = new ExternalProcess("slowhttptest", Attack(mode, target, attackSeconds));
        await Task.Delay(TimeSpan.FromSeconds(probeFrom));
        var result = await ProbeAsync(target, TimeSpan.FromSeconds(probeFor));
        await attack.WaitForExitAsync(TimeSpan.FromSeconds(attackSeconds + 10));
        return result;
    }

    private static async Task<ProbeResult> ProbeAsync(Uri target, TimeSpan duration)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var latencies = new List<TimeSpan>();
        var sent = 0;
        var until = Stopwatch.StartNew();
        while (until.Elapsed < duration)
        {
            sent++;
            var watch = Stopwatch.StartNew();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(target, "/hello"));
                request.Headers.ConnectionClose = true;
                using var response = await client.SendAsync(request);
                if (response.IsSuccessStatusCode)
                {
                    latencies.Add(watch.Elapsed);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            var pause = TimeSpan.FromMilliseconds(50) - watch.Elapsed;
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause);
            }
        }

        latencies.Sort();
        var p99 = latencies.Count == 0 ? TimeSpan.Zero : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(latencies.Count * 0.99) - 1)];
        return new ProbeResult(sent, latencies.Count, p99);
    }
}
