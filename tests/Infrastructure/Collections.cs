namespace Sidecar.Tests.Infrastructure;

/// <summary>
/// Tests that load the machine (attack tools, big transfers, whole-process lifecycles) run alone, after the
/// parallel tests, so their load cannot disturb other tests and other tests cannot disturb their measurements.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeavyCollection
{
    public const string Name = "heavy";
}
