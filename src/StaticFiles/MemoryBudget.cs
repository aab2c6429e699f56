namespace Sidecar.StaticFiles;

/// <summary>
/// Bounds the bytes of file bodies held in memory across all catalogs (StaticMemory). A catalog that is
/// replaced gives its share back, so a watched mount that changes often does not leak budget.
/// </summary>
public sealed class MemoryBudget(long limit)
{
    /// <summary>Files above this are always read from disk: their per-request cost is the copy, not the open.</summary>
    public const int MaxFileBytes = 256 * 1024;

    private long _used;

    public long Used => Interlocked.Read(ref _used);

    public bool TryReserve(long bytes)
    {
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + bytes > limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used)
            {
                return true;
            }
        }
    }

    public void Release(long bytes) => Interlocked.Add(ref _used, -bytes);
}
