using System.Runtime.InteropServices;

namespace Sidecar.Tests.Configuration;

/// <summary>
/// A ConfigMap volume written the way the kubelet's AtomicWriter writes it: the payload goes into a new hidden
/// <c>..&lt;timestamp&gt;</c> directory, a temporary <c>..data_tmp</c> symlink to it is renamed over <c>..data</c>
/// with rename(2) (the atomic step), each key is a symlink <c>key -&gt; ..data/key</c> created once, and the old
/// payload directory is removed. Nothing is ever written in place.
/// </summary>
public sealed class KubeletVolume : IDisposable
{
    private const string DataLink = "..data";
    private const string TemporaryLink = "..data_tmp";
    private int _generation;

    public KubeletVolume()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("sidecar-configmap-").FullName;
    }

    public string Directory { get; }

    public string PathOf(string key) => Path.Combine(Directory, key);

    /// <summary>The payload directory <c>..data</c> points at now (null before the first write).</summary>
    public string? CurrentPayloadDirectory =>
        new FileInfo(Path.Combine(Directory, DataLink)).LinkTarget is { } target ? Path.Combine(Directory, target) : null;

    public void Write(IReadOnlyDictionary<string, string> payload)
    {
        var old = CurrentPayloadDirectory;

        // 1. A fresh timestamped directory, named like os.MkdirTemp(dir, "..2006_01_02_15_04_05.").
        var name = $"..{DateTime.UtcNow:yyyy_MM_dd_HH_mm_ss}.{Environment.ProcessId}{Interlocked.Increment(ref _generation):D6}";
        var payloadDirectory = System.IO.Directory.CreateDirectory(Path.Combine(Directory, name)).FullName;
        foreach (var (key, content) in payload)
        {
            File.WriteAllText(Path.Combine(payloadDirectory, key), content);
        }

        // 2. The swap: a temporary relative symlink, renamed over ..data in one rename(2).
        var temporary = Path.Combine(Directory, TemporaryLink);
        File.CreateSymbolicLink(temporary, name);
        if (rename(temporary, Path.Combine(Directory, DataLink)) != 0)
        {
            throw new IOException($"rename({temporary}) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        // 3. User-visible per-key symlinks through ..data, created once and never touched again.
        foreach (var key in payload.Keys)
        {
            var visible = Path.Combine(Directory, key);
            if (new FileInfo(visible).LinkTarget is null)
            {
                File.CreateSymbolicLink(visible, Path.Combine(DataLink, key));
            }
        }

        // 4. The old payload goes.
        if (old is not null)
        {
            System.IO.Directory.Delete(old, recursive: true);
        }
    }

    public void Write(string key, string content) => Write(new Dictionary<string, string> { [key] = content });

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    [DllImport("libc", SetLastError = true)]
    private static extern int rename(string oldPath, string newPath);
}
