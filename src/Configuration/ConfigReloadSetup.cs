namespace Sidecar.Configuration;

public static class ConfigReloadSetup
{
    /// <summary>Hot reload of the config file (a no-op loop when <c>ConfigPollInterval</c> is 0).</summary>
    public static IServiceCollection AddSidecarConfigReload(this IServiceCollection services)
    {
        services.AddSingleton<ConfigReloader>();
        services.AddHostedService(s => s.GetRequiredService<ConfigReloader>());
        return services;
    }
}
