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
}
