using System.Runtime.CompilerServices;

namespace Sidecar.Configuration;

/// <summary>
/// Reads the <c>Sidecar.*</c> keys of a YARP route's or cluster's Metadata into a policy record. Keys without
/// the prefix belong to others and are ignored; an unknown <c>Sidecar.*</c> key or a bad value is a problem
/// naming exactly where it is, so a typo in a ConfigMap fails the load instead of being silently ignored.
/// </summary>
internal static class SidecarMetadata
{
    public const string Prefix = "Sidecar.";

    /// <param name="apply">Applies one key (without the prefix, lower case) to the policy; null for an unknown key.</param>
    public static T Read<T>(IReadOnlyDictionary<string, string>? metadata, T policy, string where, IReadOnlyList<string> keys,
        Func<T, string, string, T?> apply, List<string>? problems)
        where T : class
    {
        if (metadata is null)
        {
            return policy;
        }

        foreach (var (key, value) in metadata)
        {
            if (!key.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            try
            {
                policy = apply(policy, key[Prefix.Length..].ToLowerInvariant(), value)
                    ?? throw new FormatException($"unknown setting; known: {string.Join(", ", keys.Select(k => Prefix + k))}");
            }
            catch (FormatException e)
            {
                problems?.Add($"{where}.Metadata.{key}: {e.Message}");
            }
        }

        return policy;
    }

    /// <summary>
    /// Metadata keys YARP accepts but the sidecar ignores although they were almost certainly meant for it: a
    /// misspelled prefix (<c>Sidcar.MaxBodySize</c>) or a setting name without one (<c>MaxBodySize</c>). YARP allows
    /// any metadata, so these are warnings, not errors; silently ignoring them would hide a limit that is not applied.
    /// </summary>
    public static IEnumerable<string> LookAlikes(IReadOnlyDictionary<string, string>? metadata, string where, IReadOnlyList<string> keys)
    {
        foreach (var key in metadata?.Keys ?? [])
        {
            if (key.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var dot = key.IndexOf('.');
            var misspelledPrefix = dot > 0 && Spelling.Closest(key[..dot], [Prefix.TrimEnd('.')]) is not null;
            var meant = Spelling.Closest(dot >= 0 ? key[(dot + 1)..] : key, keys);
            if (misspelledPrefix || (dot < 0 && meant is not null))
            {
                var hint = meant is not null ? $"; did you mean '{Prefix}{meant}'?" : $" (known: {string.Join(", ", keys.Select(k => Prefix + k))})";
                yield return $"{where}.Metadata.{key}: ignored, because only keys starting with '{Prefix}' are sidecar settings{hint}";
            }
        }
    }
}

/// <summary>
/// One parsed policy per live YARP route or cluster object and settings object. YARP keeps a route or cluster
/// object across a reload that leaves it unchanged, so a reload that only changes a global default must still
/// produce a fresh policy: the settings are part of the key.
/// </summary>
internal sealed class PolicyCache<TConfig, TPolicy>(Func<TConfig, SidecarSettings, TPolicy> parse)
    where TConfig : class
    where TPolicy : class
{
    private readonly ConditionalWeakTable<TConfig, Entry> _entries = new();

    public TPolicy For(TConfig config, SidecarSettings settings)
    {
        if (_entries.TryGetValue(config, out var entry) && ReferenceEquals(entry.Settings, settings))
        {
            return entry.Policy;
        }

        var policy = parse(config, settings);
        _entries.AddOrUpdate(config, new Entry(settings, policy));
        return policy;
    }

    private sealed record Entry(SidecarSettings Settings, TPolicy Policy);
}
