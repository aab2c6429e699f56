namespace Sidecar.Tests.Infrastructure;

/// <summary>A process's memory as the kernel counts it, from /proc/&lt;pid&gt;/status.</summary>
public static class ProcessStatus
{
    /// <summary>Resident memory now (VmRSS), in KiB.</summary>
    public static long ResidentKib(int pid) => Kib(pid, "VmRSS:");

    /// <summary>The most resident memory since the process started (VmHWM), in KiB.</summary>
    public static long PeakResidentKib(int pid) => Kib(pid, "VmHWM:");

    private static long Kib(int pid, string field) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith(field, StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
}
