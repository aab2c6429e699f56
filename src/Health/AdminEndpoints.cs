using Sidecar.Configuration;

namespace Sidecar.Health;

/// <summary>
/// The admin port's health endpoints. <c>/healthz/started</c> and <c>/healthz/live</c> never look at the
/// upstream (a native sidecar's startup probe must not wait for the app it starts before);
/// <c>/healthz/ready</c> needs the upstream to accept connections and the sidecar not to be draining.
/// </summary>
public static class AdminEndpoints
{
    public static void MapHealth(IApplicationBuilder admin)
    {
        admin.Map("/healthz/started", a => a.Run(context => WriteAsync(context, 200, "started")));
        admin.Map("/healthz/live", a => a.Run(context => WriteAsync(context, 200, "live")));
        admin.Map("/healthz/ready", a => a.Run(ReadyAsync));
    }

    /// <summary>
    /// Only GET and HEAD of the four exact paths pass, and the admin port answers nothing else; in particular it never
    /// forwards to the app. The branches after this match by prefix and any method, so <c>DELETE /metrics/x</c> was
    /// answered with the metrics, and a probe path with a typo in its tail still passed.
    /// </summary>
    public static void UseExactPathsAndReadOnlyMethods(IApplicationBuilder admin) =>
        admin.Use((context, next) =>
        {
            var path = context.Request.Path.Value;
            if (path is not ("/healthz/started" or "/healthz/live" or "/healthz/ready" or "/metrics"))
            {
                return WriteAsync(context, 404, "not found: the admin port serves /healthz/started, /healthz/live, /healthz/ready and /metrics");
            }

            // Compared as written: HttpMethods' checks take "get" for GET, which the main port refuses.
            if (context.Request.Method is not ("GET" or "HEAD"))
            {
                context.Response.Headers.Allow = "GET, HEAD";
                return WriteAsync(context, 405, $"method not allowed: {path} answers GET and HEAD");
            }

            return next(context);
        });

    private static async Task ReadyAsync(HttpContext context)
    {
        var services = context.RequestServices;
        if (services.GetRequiredService<DrainState>().IsDraining)
        {
            await WriteAsync(context, 503, "not ready: draining (shutting down)");
            return;
        }

        foreach (var check in services.GetServices<IReadinessCheck>())
        {
            if (check.Problem() is { } problem)
            {
                await WriteAsync(context, 503, $"not ready: {problem}");
                return;
            }
        }

        var upstreamProblem = await services.GetRequiredService<UpstreamProbe>().CheckAsync(context.RequestAborted);
        await (upstreamProblem is null
            ? WriteAsync(context, 200, "ready")
            : WriteAsync(context, 503, $"not ready: {upstreamProblem}"));
    }

    private static Task WriteAsync(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        context.Response.Headers.CacheControl = "no-store";
        return context.Response.WriteAsync(text + "\n");
    }
}

/// <summary>An extra condition for readiness (for example a saturated upstream queue); null means fine.</summary>
public interface IReadinessCheck
{
    string? Problem();
}
