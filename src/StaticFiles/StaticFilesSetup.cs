using Microsoft.AspNetCore.ResponseCompression;
using Microsoft.Net.Http.Headers;
using Sidecar.Configuration;
using Sidecar.Logging;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Sidecar.StaticFiles;

/// <summary>Registration of static serving, X-Accel-Redirect and dynamic compression; one call each from the host.</summary>
public static class StaticFilesSetup
{
    public static IServiceCollection AddSidecarStaticFiles(this IServiceCollection services)
    {
        services.AddSingleton<StaticFileService>();
        services.AddSingleton<IRequestObserver, StaticMetrics>();
        services.AddResponseCompression(options =>
        {
            // Whether to compress is the sidecar's setting (see the README's BREACH note), not the scheme's.
            options.EnableForHttps = true;
            options.MimeTypes = DynamicCompressionProvider.MimeTypes;
            // DynamicCompressionProvider picks between these two itself; listed here, ASP.NET Core builds no others.
            options.Providers.Add(CoalescingCompressionProvider.Brotli);
            options.Providers.Add(CoalescingCompressionProvider.Gzip);
        });
        services.AddSingleton<IResponseCompressionProvider, DynamicCompressionProvider>();
        return services;
    }

    /// <summary>Static mounts answer first; what they do not answer may be compressed on its way back from the app.</summary>
    public static WebApplication UseSidecarStaticFiles(this WebApplication app)
    {
        var service = app.Services.GetRequiredService<StaticFileService>();
        service.Start();
        app.Lifetime.ApplicationStopping.Register(service.Stop);
        app.UseMiddleware<StaticFileMiddleware>();
        app.UseResponseCompression();
        return app;
    }

    /// <summary>Proxy transforms; registered before response buffering so an X-Accel-Redirect body is never spooled.</summary>
    public static void AddTransforms(TransformBuilderContext context)
    {
        context.AddRequestTransform(transform =>
        {
            // With compression done here, gunicorn workers never spend time compressing (and never compress twice).
            var settings = transform.HttpContext.RequestServices.GetRequiredService<ConfigHolder>().Settings;
            if (settings.DynamicCompression)
            {
                transform.ProxyRequest.Headers.Remove(HeaderNames.AcceptEncoding);
            }

            return ValueTask.CompletedTask;
        });
        context.AddResponseTransform(AccelRedirect.ApplyAsync);
        context.AddResponseTransform(CompressionCacheHeaders.ApplyAsync);
    }
}
