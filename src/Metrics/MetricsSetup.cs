using Prometheus;
using Sidecar.Logging;

namespace Sidecar.Telemetry;

/// <summary>
/// Registers the sidecar's Prometheus metrics: the request observer, Kestrel rejection listener, scrape-time values and /metrics.
/// The namespace is Sidecar.Telemetry, not Sidecar.Metrics, so that it never hides prometheus-net's static
/// <c>Metrics</c> class from code anywhere under Sidecar.* (every capability registers its own families there).
/// </summary>
public static class MetricsSetup
{
    public static IServiceCollection AddSidecarMetrics(this IServiceCollection services)
    {
        RuntimeMeters.Configure();
        services.AddSingleton<IRequestObserver, RequestMetricsObserver>();
        services.AddSingleton<InFlightRequests>();
        services.AddSingleton<HostGauges>();
        services.AddSingleton<ConnectionRejections>();
        return services;
    }

    /// <summary>Application-port pipeline: tracks in-flight requests. Goes right after the access log, which creates the request record.</summary>
    public static IApplicationBuilder UseSidecarMetrics(this IApplicationBuilder app)
    {
        PublishStatic(app.ApplicationServices);
        RuntimeMeters.StartAdapters();
        return app.UseMiddleware<InFlightMiddleware>();
    }

    /// <summary>Admin-port pipeline: /metrics in Prometheus text format (OpenMetrics when the scraper asks for it).</summary>
    public static IApplicationBuilder UseSidecarMetricsEndpoint(this IApplicationBuilder admin) =>
        admin.UseMetricServer(_ => { }, "/metrics");

    private static void PublishStatic(IServiceProvider services)
    {
        // Resolving these starts them: the Kestrel listener must exist before the first connection ends, and the
        // host's scrape-time values must be registered before the first scrape.
        services.GetRequiredService<ConnectionRejections>();
        services.GetRequiredService<HostGauges>();

        var (version, commit) = BuildInfo.Read();
        SidecarMetrics.BuildInfo.WithLabels(version, commit, Environment.Version.ToString()).Set(1);

        // Every known reason starts at 0, so rate() and alerts see a series before the first rejection happens.
        foreach (var reason in KnownRejections)
        {
            SidecarMetrics.Rejections.WithLabels(reason);
        }

        SidecarMetrics.ConfigReloads.WithLabels("applied");
        SidecarMetrics.ConfigReloads.WithLabels("rejected");
        SidecarMetrics.SpooledToDisk.WithLabels("request");
        SidecarMetrics.SpooledToDisk.WithLabels("response");
    }

    internal static readonly string[] KnownRejections =
    [
        Rejection.BodyTooLarge,
        ConnectionRejections.HeaderTimeout,
        ConnectionRejections.SlowBody,
        ConnectionRejections.SlowRead,
        ConnectionRejections.HeadersTooLarge,
        ConnectionRejections.BadRequest,
        Rejection.Smuggling,
        Rejection.MethodNotAllowed,
        Rejection.SpoolFull,
        Rejection.UpstreamRefused,
        Rejection.UpstreamTimeout,
        Rejection.UpstreamFailed,
        Rejection.QueueFull,
        Rejection.QueueTimeout,
    ];
}
