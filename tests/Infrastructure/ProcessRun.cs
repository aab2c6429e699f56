using System.Diagnostics;

namespace Sidecar.Tests.Infrastructure;

/// <summary>Runs a short-lived program to completion (kubectl, a migration, a copy) and captures its output.</summary>
public static class ProcessRun
{
    public sealed record Result(int ExitCode, string Output, string Errors)
    {
        public string Combined => Output + Errors;
    }

    public static Result Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        IEnumerable<KeyValuePair<string, string>>? environment = null, TimeSpan? timeout = null)
    {
        var info = ExternalProcess.StartInfo(fileName, arguments, workingDirectory, environment);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish within {timeout ?? TimeSpan.FromMinutes(2)}");
        }

        process.WaitForExit();
        return new Result(process.ExitCode, output.Result, errors.Result);
    }
}
