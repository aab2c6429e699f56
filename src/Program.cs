using Sidecar.Configuration;
using Sidecar.Hosting;

if (args.Length > 0 && args[0] == CheckConfigCommand.Flag)
{
    return CheckConfigCommand.Run(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);
}

var builder = WebApplication.CreateSlimBuilder(args);
SidecarConfig config;
try
{
    config = await ConfigValidation.Standalone().LoadAsync(key => builder.Configuration[key]);
}
catch (ConfigException e)
{
    Console.Error.WriteLine($"sidecar: configuration invalid ({e.ConfigSource}):");
    foreach (var problem in e.Problems)
    {
        Console.Error.WriteLine($"  - {problem}");
    }

    return 2;
}

var app = builder.AddSidecar(config).Build();
app.UseSidecar();
app.Run();
return 0;

/// <summary>Visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
