using Microsoft.Win32.SafeHandles;
using Sidecar.Configuration;

namespace Sidecar.Buffering;

/// <summary>
/// The temp directory shared by every spooled body: creates the files and keeps the disk quota.
/// Files are unlinked as soon as they are opened, so nothing is left behind even if the process is killed.
/// </summary>
public sealed class SpoolStore(ConfigHolder config)
{
    private long _bytesOnDisk;
    private long _filesCreated;
    private long _bytesWritten;

    // TempDir and SpoolQuota are restart-only settings (see ReloadScope), so the start-up values stay in force.
    public string Directory { get; } = config.Settings.SpoolDirectory;

    public long Quota { get; } = config.Settings.SpoolQuota;

    /// <summary>Bytes currently held in temp files by requests in flight.</summary>
    public long BytesOnDisk => Interlocked.Read(ref _bytesOnDisk);

    /// <summary>Temp files created since start.</summary>
    public long FilesCreated => Interlocked.Read(ref _filesCreated);

    /// <summary>Bytes written to temp files since start.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    internal bool TryReserve(long bytes)
    {
        while (true)
        {
            var current = Interlocked.Read(ref _bytesOnDisk);
            var next = current + bytes;
            if (Quota > 0 && next > Quota)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _bytesOnDisk, next, current) == current)
            {
                return true;
            }
        }
    }

    internal void Release(long bytes) => Interlocked.Add(ref _bytesOnDisk, -bytes);

    /// <summary>Counts bytes once they are in a file, so a write that failed after its reservation is not.</summary>
    internal void Wrote(long bytes) => Interlocked.Add(ref _bytesWritten, bytes);

    internal SafeFileHandle CreateFile()
    {
        var handle = CreateUnlinked();
        Interlocked.Increment(ref _filesCreated);
        return handle;
    }

    /// <summary>
    /// Creates and drops one spool file, so a directory that cannot hold bodies is named in the log at start (and by
    /// --check-config) rather than discovered at the first body too big for memory. Returns why, said so an operator
    /// can act on it, or null when it can.
    /// </summary>
    public string? Problem()
    {
        try
        {
            CreateUnlinked().Dispose();
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"The spool directory {Directory} cannot hold bodies ({e.Message}): request bodies larger than RequestBufferMemory will get 507, and responses larger than ResponseBufferMemory will go to slow clients at their pace, holding a gunicorn worker. Set SIDECAR_TEMP_DIR to a directory this user can write, such as an emptyDir volume";
        }
    }

    private SafeFileHandle CreateUnlinked()
    {
        var path = Path.Combine(Directory, $"sidecar-{Environment.ProcessId}-{Guid.NewGuid():N}.spool");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
        File.Delete(path);
        return handle;
    }
}

/// <summary>The spool quota or the disk itself is full: the body cannot be held.</summary>
public sealed class SpoolFullException(string message, Exception? inner = null) : IOException(message, inner);
