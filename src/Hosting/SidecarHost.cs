using Sidecar.Admission;
using Sidecar.Buffering;
using Sidecar.Configuration;
using Sidecar.Forwarding;
using Sidecar.Health;
using Sidecar.Logging;
using Sidecar.StaticFiles;
using Sidecar.Telemetry;

namespace Sidecar.Hosting;

/// <summary>Creates the host and wires every capability into it; Program.cs only calls these methods.</summary>
public static class SidecarHost
{
    public static WebApplicationBuilder CreateBuilder(string[] args)
    {
        // The sidecar reads no appsettings.json, but the default host reloads it on change by watching its content
        // root, the working directory, recursively: from "/" an inotify watch on every directory of /proc and /sys
        // (150+ ms of CPU at start-up), and next to a file the sidecar's own output goes to, a stat per log line.
        Environment.SetEnvironmentVariable("DOTNET_hostBuilder__reloadConfigOnChange", "false");
        return WebApplication.CreateSlimBuilder(args);
    }

    public static WebApplicationBuilder AddSidecar(this WebApplicationBuilder builder, SidecarConfig config)
    {
        var settings = config.Settings;
        builder.WebHost.ConfigureKestrel(kestrel => KestrelSetup.Configure(kestrel, settings));
        builder.WebHost.UseSockets(sockets => KestrelSetup.Configure(sockets, settings));
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.DrainTimeout + settings.ShutdownDelay);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        // Per-request framework logs would cost more than the proxying; the access log covers requests.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        // Hosting starts an Activity for every request whenever this logger is enabled at any level, only so its
        // log scopes can carry a trace id; nothing here reads one (the sidecar has its own request ids and
        // forwards trace headers untouched). Off, a static hit costs 10% less CPU (14.6 -> 13.1 µs, three
        // alternating runs) and a proxied request 0.8 KB less allocation.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        // Every forwarding failure gets one line of the sidecar's own naming its cause (ProxyErrors); the forwarder's
        // warning beside it repeated it with a 40-frame stack.
        builder.Logging.AddFilter("Yarp.ReverseProxy.Forwarder.HttpForwarder", LogLevel.Error);
        RefusedRequestLog.AddTo(builder.Logging);

        var services = builder.Services;
        services.AddSingleton(new ConfigHolder(config));
        services.AddSingleton(new ConfigReloadStatus(config));
        services.AddSingleton<SpoolStore>();
        services.AddSingleton<AccessLogWriter>();
        services.AddSingleton<DrainState>();
        services.AddSingleton<UpstreamProbe>();
        services.AddSidecarAdmission();
        services.AddSidecarStaticFiles();
        services.AddSidecarProxy(config);
        services.AddSidecarMetrics();
        services.AddSidecarConfigReload();
        services.AddHostedService<MemoryTrim>();
        return builder;
    }

    public static WebApplication UseSidecar(this WebApplication app)
    {
        var settings = app.Services.GetRequiredService<ConfigHolder>().Settings;
        var loggers = app.Services.GetRequiredService<ILoggerFactory>();
        MemoryLimitCheck.Warn(loggers.CreateLogger("Sidecar.Memory"));
        foreach (var unknown in SettingsCatalog.UnknownVariables(Environment.GetEnvironmentVariables().Keys.Cast<string>()))
        {
            loggers.CreateLogger("Sidecar.Configuration").LogWarning("{Warning}", unknown);
        }

        if (app.Services.GetRequiredService<SpoolStore>().Problem() is { } spoolProblem)
        {
            loggers.CreateLogger("Sidecar.Buffering").LogWarning("{Problem}", spoolProblem);
        }

        RegisterDraining(app, settings);
        app.UseCloseConnectionsWhileDraining();

        var adminPort = settings.AdminPort;
        app.MapWhen(context => context.Connection.LocalPort == adminPort, admin =>
        {
            AdminEndpoints.UseExactPathsAndReadOnlyMethods(admin);
            AdminEndpoints.MapHealth(admin);
            admin.UseSidecarMetricsEndpoint();
        });

        app.UseMiddleware<AccessLogMiddleware>();
        app.UseSidecarMetrics();
        app.UseMiddleware<RequestShapeMiddleware>();
        app.UseSidecarStaticFiles();
        // Routing placed explicitly here (not at the start, where WebApplication would put it) so admin
        // requests and anything answered above never pay for route matching.
        app.UseRouting();
        app.MapSidecarProxy();
        return app;
    }

    private static void RegisterDraining(WebApplication app, SidecarSettings settings)
    {
        var drain = app.Services.GetRequiredService<DrainState>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Sidecar.Shutdown");
        var inFlight = app.Services.GetRequiredService<Telemetry.InFlightRequests>();
        app.Lifetime.ApplicationStopping.Register(() =>
        {
            drain.BeginDraining();
            logger.LogInformation("Shutting down: readiness is now false; in-flight requests get up to {Timeout} to finish", settings.DrainTimeout);
            if (settings.ShutdownDelay > TimeSpan.Zero)
            {
                // Blocking here keeps Kestrel accepting while load balancers notice readiness is false.
                Thread.Sleep(settings.ShutdownDelay);
            }

            // Requests still queued a second before DrainTimeout ends (half of it, if shorter) cannot be forwarded
            // and answered in time: they get their 503 while it can still be delivered.
            var queueCloses = settings.DrainTimeout - TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, settings.DrainTimeout.Ticks / 2));
            _ = Task.Delay(queueCloses).ContinueWith(_ => drain.CloseQueue(), TaskScheduler.Default);

            // Requests still running when DrainTimeout ends are cut off by the host, and their log lines can only say
            // the connection went away: this line says why.
            var warnAt = settings.DrainTimeout > TimeSpan.FromMilliseconds(100) ? settings.DrainTimeout - TimeSpan.FromMilliseconds(50) : TimeSpan.Zero;
            _ = Task.Delay(warnAt).ContinueWith(_ =>
            {
                if (inFlight.Count > 0)
                {
                    logger.LogWarning("DrainTimeout ({Timeout}) is ending with {Count} requests still in flight; they are cut off (raise DrainTimeout, and terminationGracePeriodSeconds with it, if they should finish)",
                        settings.DrainTimeout, inFlight.Count);
                }
            }, TaskScheduler.Default);
        });
    }
}
