using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
        services.AddReverseProxyWithKeysInMemory()
            .LoadFromMemory(config.Routes, config.Clusters)
            .ConfigureHttpClient((client, handler) =>
            {
                var settings = config.Settings;
                handler.ConnectTimeout = settings.UpstreamConnectTimeout;
                UpstreamConnector.Apply(client.NewMetadata, handler);
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
                    RawTarget.Apply(transform);
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
    /// <c>AddReverseProxy</c> with its data protection keys in memory. YARP protects session affinity cookies with
    /// data protection; left as registered, resolving YARP's services (even just its config validator) loads or, in a
    /// fresh container, generates and writes a key ring under $HOME/.aspnet and warns that it is stored unencrypted,
    /// and a hosted service does the same again at every start. With in-memory keys and without that service nothing
    /// touches the disk. An affinity cookie then holds for the life of the process, which is the Pod's.
    /// </summary>
    public static IReverseProxyBuilder AddReverseProxyWithKeysInMemory(this IServiceCollection services)
    {
        var proxy = services.AddReverseProxy();
        services.AddDataProtection();
        services.Replace(ServiceDescriptor.Singleton<IDataProtectionProvider, DeferredDataProtectionProvider>());
        var dataProtection = typeof(KeyManagementOptions).Assembly;
        for (var i = services.Count - 1; i >= 0; i--)
        {
            if (services[i].ServiceType == typeof(IHostedService) && services[i].ImplementationType?.Assembly == dataProtection)
            {
                services.RemoveAt(i);
            }
        }

        return proxy;
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
