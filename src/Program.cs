using Sidecar.Configuration;
using Sidecar.Hosting;
using Yarp.ReverseProxy.Configuration;

if (args.Length > 0 && args[0].Split('=', 2) is [CheckConfigCommand.Flag, .. var file])
{
    // "--check-config=FILE" is the same as "--check-config FILE".
    return CheckConfigCommand.Run([CheckConfigCommand.Flag, .. file, .. args[1..]], Environment.GetEnvironmentVariable, Console.Out, Console.Error,
        Environment.GetEnvironmentVariables().Keys.Cast<string>());
}

// Other arguments are host settings (--key=value, as for any ASP.NET Core app). Anything else is a mistake, and
// starting anyway bound the ports and never returned: a CI step running "sidecar --help" hung.
if (args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal) || !a.Contains('=')) is { } unknown)
{
    Console.Error.WriteLine($"sidecar: unknown argument '{unknown}'; the sidecar is configured by SIDECAR_* environment variables and its config file (see the README), and its only option is {CheckConfigCommand.Flag} [FILE]");
    return 2;
}

var builder = SidecarHost.CreateBuilder(args);
SidecarConfig config;
try
{
    config = ConfigLoader.Load(key => builder.Configuration[key]);
}
catch (ConfigException e)
{
    return Invalid(e);
}

var app = builder.AddSidecar(config).Build();
try
{
    // YARP's own checks, with the validator of the container just built: nothing listens yet.
    await new ConfigValidation(app.Services.GetRequiredService<IConfigValidator>()).ValidateAsync(config);
}
catch (ConfigException e)
{
    return Invalid(e);
}

app.UseSidecar();
try
{
    app.Run();
}
catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    Console.Error.WriteLine($"sidecar: {e.Message} Another process (often the app container, in the same Pod network) listens there: change SIDECAR_PORT or SIDECAR_ADMIN_PORT, or that process's port.");
    return 2;
}

return 0;

static int Invalid(ConfigException e)
{
    Console.Error.WriteLine($"sidecar: configuration invalid ({e.ConfigSource}):");
    foreach (var problem in e.Problems)
    {
        Console.Error.WriteLine($"  - {problem}");
    }

    return 2;
}

/// <summary>Visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
