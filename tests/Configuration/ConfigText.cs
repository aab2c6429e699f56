namespace Sidecar.Tests.Configuration;

/// <summary>Config files the reload tests write, and a way to wait for what they cause.</summary>
public static class ConfigText
{
    /// <summary>Everything to gunicorn, every response marked with the config version that routed it.</summary>
    public static string Versioned(string version, string extraRoutes = "") => $$"""
        {
          "ReverseProxy": {
            "Routes": {
              {{extraRoutes}}
              "app": {
                "ClusterId": "upstream",
                "Match": { "Path": "/{**catch-all}" },
                "Transforms": [ { "ResponseHeader": "X-Config", "Set": "{{version}}" } ]
              }
            }
          }
        }
        """;

    /// <summary>Polls <paramref name="condition"/> until it holds; fails naming what was awaited. Time is a bound, never the assertion.</summary>
    public static async Task<TimeSpan> EventuallyAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, Func<string>? detail = null)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            if (started.Elapsed > limit)
            {
                Assert.Fail($"not within {limit.TotalSeconds:0} s: {what}{detail?.Invoke()}");
            }

            await Task.Delay(25);
        }

        return started.Elapsed;
    }

    public static Task<TimeSpan> EventuallyAsync(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? detail = null) =>
        EventuallyAsync(() => Task.FromResult(condition()), what, timeout, detail);
}
