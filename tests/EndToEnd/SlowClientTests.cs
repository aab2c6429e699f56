using Sidecar.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Sidecar.Tests.EndToEnd;

/// <summary>
/// The reason the product exists: under slowhttptest attacks a 2-worker sync gunicorn answers nothing,
/// and behind the sidecar it answers every probe. Both sides run, so the test can tell the difference.
/// </summary>
[Collection(HeavyCollection.Name)]
public sealed class SlowClientTests(ITestOutputHelper output)
{
    public static TheoryData<string> Attacks() => new() { "slow-post", "slow-post-400bps", "slowloris", "slow-read" };

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task BehindTheSidecarEveryProbeIsAnswered(string attack)
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);
        await using var sidecar = await SidecarProcess.StartAsync(gunicorn.Address, new Dictionary<string, string> { ["SIDECAR_ACCESS_LOG"] = "off" });

        var result = await SlowHttpTest.RunAsync(attack, sidecar.Address);

        output.WriteLine($"{attack} through the sidecar: {result}");
        Assert.True(result.Sent > 20, $"the probe barely ran: {result}");
        Assert.Equal(result.Sent, result.Answered);
    }

    [Theory]
    [MemberData(nameof(Attacks))]
    public async Task BareGunicornIsTakenDown(string attack)
    {
        await using var gunicorn = await Gunicorn.StartAsync(workers: 2);

        var result = await SlowHttpTest.RunAsync(attack, gunicorn.Address);

        output.WriteLine($"{attack} against gunicorn directly: {result}");
        Assert.True(result.Availability < 0.5, $"gunicorn survived the attack on its own ({result}), so this attack proves nothing about the sidecar");
    }
}
