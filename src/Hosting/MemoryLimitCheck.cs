namespace Sidecar.Hosting;

/// <summary>
/// Warns at start-up when the container's memory limit is too small for the sidecar under load, so the cause
/// is named before the kernel's OOM killer acts: resident memory is about 38 MiB idle and 60 MiB under 64
/// connections (examples/measure-resources.sh). The .NET GC takes 75% of the limit as its heap limit, and
/// a tight one is worse than an OOM kill: without concurrent GC, a 32 MB heap limit (a 42Mi container) crashed
/// the process with SIGSEGV inside the GC under 32 connections (dotnet/runtime#129681).
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
                "The GC heap limit is {HeapLimit} MiB (75% of the container's memory limit, or DOTNET_GCHeapHardLimit); the sidecar's resident memory reaches about 60 MiB under load, so it would be killed for lack of memory. Set the sidecar container's resources.limits.memory to at least {Minimum}Mi",
                heapLimit >> 20, MinimumContainerLimit >> 20);
        }
    }
}
