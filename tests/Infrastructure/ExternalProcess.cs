using System.Diagnostics;
using System.Text;

namespace Sidecar.Tests.Infrastructure;

/// <summary>A real process started by a test, its output captured, killed (with its children) on dispose.</summary>
public sealed class ExternalProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public ExternalProcess(string fileName, IEnumerable<string> arguments, string? workingDirectory = null, IDictionary<string, string>? environment = null)
    {
        _process = new Process { StartInfo = StartInfo(fileName, arguments, workingDirectory, environment) };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>Output redirected, arguments passed one by one (no shell quoting), environment added to ours.</summary>
    public static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        IEnumerable<KeyValuePair<string, string>>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? [])
        {
            info.Environment[key] = value;
        }

        return info;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    /// <summary>Sends a POSIX signal (SIGTERM = 15) the way Kubernetes does.</summary>
    public void Signal(int signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString()]);
        kill.WaitForExit();
    }

    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
