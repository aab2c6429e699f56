using System.Text;
using Sidecar.Buffering;
using Sidecar.Configuration;
using Sidecar.Logging;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.Forwarding;

/// <summary>
/// Registers YARP with the sidecar's routing, transforms and upstream connection settings.
/// </summary>
public static class ProxySetup
{
    public static IServiceCollection AddSidecarProxy(this IServiceCollection services, SidecarConfig config)
    {
        services.AddSingleton<ResponseBuffering>();
        services.AddReverseProxy()
            .LoadFromMemory(config.Routes, config.Clusters)
            .ConfigureHttpClient((client, handler) =>
            {
                var settings = config.Settings;
                handler.ConnectTimeout = settings.UpstreamConnectTimeout;
                UnixSocketConnector.Apply(client.NewMetadata, handler);
                // gunicorn's gthread workers close idle keep-alive connections after 2 s; dropping ours first
                // avoids sending a request down a connection the upstream is closing (a spurious 502).
                handler.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(1);
                handler.MaxResponseDrainSize = 0;
                // Byte-for-byte header values, matching Kestrel's side (KestrelSetup).
                handler.RequestHeaderEncodingSelector = (_, _) => Encoding.Latin1;
                handler.ResponseHeaderEncodingSelector = (_, _) => Encoding.Latin1;
                // Trace context is the client's to send; the sidecar forwards its headers untouched rather than inventing one.
                handler.ActivityHeadersPropagator = null;
            })
            .AddTransforms(context =>
            {
                // The nginx sidecar forwarded the original Host (proxy_set_header Host $http_host): Django's
                // ALLOWED_HOSTS must see the public name, not 127.0.0.1:8000.
                context.AddOriginalHost(true);
                context.UseDefaultForwarders = false;
                context.AddRequestTransform(transform =>
                {
                    var http = transform.HttpContext;
                    var settings = http.RequestServices.GetRequiredService<ConfigHolder>().Settings;
                    ForwardedHeaders.Apply(transform, settings);
                    var record = http.Features.Get<RequestRecord>();
                    if (record is not null)
                    {
                        record.UpstreamStart = System.Diagnostics.Stopwatch.GetTimestamp();
                    }

                    return ValueTask.CompletedTask;
                });
                context.AddResponseTransform(NoContentFraming.ApplyAsync);
                StaticFiles.StaticFilesSetup.AddTransforms(context);
                context.AddResponseTransform(transform =>
                    transform.HttpContext.RequestServices.GetRequiredService<ResponseBuffering>().ApplyAsync(transform));
            });
        return services;
    }

    /// <summary>
    /// YARP's pipeline: buffer the request, wait for a slot, pick a destination, forward, then explain any
    /// forwarding failure. A destination is picked only once the body is in and a slot is free, so
    /// LeastRequests counts requests that really are at the app.
    /// </summary>
    public static void MapSidecarProxy(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sidecar.Forwarding");
        app.MapReverseProxy(pipeline =>
        {
            pipeline.UseMiddleware<RouteUpstreamTimeout>();
            pipeline.UseMiddleware<RequestBufferingMiddleware>();
            pipeline.UseMiddleware<Admission.AdmissionMiddleware>();
            pipeline.Use(async (context, next) =>
            {
                await next(context);
                await ProxyErrors.DescribeForwarderErrorAsync(context, logger);
            });
            // YARP's own steps, which a custom pipeline must add itself: without them a cluster's
            // SessionAffinity, LoadBalancingPolicy and passive health checks would be accepted and ignored.
            pipeline.UseSessionAffinity();
            pipeline.UseLoadBalancing();
            pipeline.UsePassiveHealthChecks();
        });
    }
}
