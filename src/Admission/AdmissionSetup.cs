using Sidecar.Health;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Sidecar.Admission;

/// <summary>Registers admission control: per-cluster upstream queues, their metrics, readiness and X-Request-Start.</summary>
public static class AdmissionSetup
{
    public static IServiceCollection AddSidecarAdmission(this IServiceCollection services)
    {
        services.AddSingleton<AdmissionQueues>();
        services.AddSingleton<IReadinessCheck, QueueReadinessCheck>();
        services.AddSingleton<ITransformProvider, RequestStartHeader>();
        return services;
    }
}
