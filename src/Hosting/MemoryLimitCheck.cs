namespace Sidecar.Hosting;

/// <summary>
/// Warns at start-up when the container's memory limit is too small for the sidecar under load. The .NET GC
/// takes 75% of the limit as its heap limit; measured here (32 connections of proxied GETs), a 32 MB heap
/// limit (a 42Mi container) crashed the process with SIGSEGV inside the GC (dotnet/runtime#129681) instead
/// of collecting harder, while 40 MB and 48 MB held. A warning at start names the cause before that happens.
/// </summary>
public static class MemoryLimitCheck
{
    /// <summary>The smallest container limit the sidecar is measured to run under load with.</summary>
    public const long MinimumContainerLimit = 64L << 20;

    /// <summary>The GC's heap limit for that container limit (75% of it).</summary>
    public const long MinimumHeapLimit = MinimumContainerLimit / 4 * 3;

    public static void Warn(ILogger logger)
    {
        var heapLimit = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (heapLimit < MinimumHeapLimit)
        {
            logger.LogWarning(
                "The GC heap limit is {HeapLimit} MiB (75% of the container's memory limit, or DOTNET_GCHeapHardLimit); under load the sidecar needs more, and the .NET GC crashes when it runs out. Set the sidecar container's resources.limits.memory to at least {Minimum}Mi",
                heapLimit >> 20, MinimumContainerLimit >> 20);
        }
    }
}
