using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace Sidecar.StaticFiles;

/// <summary>
/// Content negotiation on Accept-Encoding per RFC 9110 §12.5.3: the client's q-values decide (q=0 excludes),
/// <c>*</c> stands for every coding not named, identity is acceptable unless excluded; among equally preferred
/// representations the smallest wins. No header, or nothing acceptable, means identity.
/// </summary>
public static class AcceptEncoding
{
    public static StaticVariant Select(StringValues header, StaticAsset asset)
    {
        if (header.Count == 0 || !asset.HasVariants)
        {
            return asset.Identity;
        }

        // Qualities in thousandths; -1 = not mentioned.
        int br = -1, gzip = -1, identity = -1, star = -1;
        foreach (var value in header)
        {
            if (value is null)
            {
                continue;
            }

            var rest = value.AsSpan();
            while (rest.Length > 0)
            {
                var comma = rest.IndexOf(',');
                var element = comma < 0 ? rest : rest[..comma];
                rest = comma < 0 ? default : rest[(comma + 1)..];
                var semicolon = element.IndexOf(';');
                var coding = (semicolon < 0 ? element : element[..semicolon]).Trim();
                if (coding.Length == 0)
                {
                    continue;
                }

                var q = semicolon < 0 ? 1000 : ParseQuality(element[(semicolon + 1)..]);
                if (q < 0)
                {
                    continue; // a malformed weight makes the element meaningless, not "q=1"
                }

                if (coding.Equals("br", StringComparison.OrdinalIgnoreCase)) br = Math.Max(br, q);
                else if (coding.Equals("gzip", StringComparison.OrdinalIgnoreCase) || coding.Equals("x-gzip", StringComparison.OrdinalIgnoreCase)) gzip = Math.Max(gzip, q);
                else if (coding.Equals("identity", StringComparison.OrdinalIgnoreCase)) identity = Math.Max(identity, q);
                else if (coding.SequenceEqual("*")) star = Math.Max(star, q);
            }
        }

        var best = asset.Identity;
        // Unmentioned identity is acceptable but the last resort, so "br;q=0.5" still means "br, please".
        var bestQ = identity >= 0 ? identity : star >= 0 ? star : 1;
        Consider(asset.Gzip, gzip >= 0 ? gzip : Math.Max(star, 0), ref best, ref bestQ);
        Consider(asset.Brotli, br >= 0 ? br : Math.Max(star, 0), ref best, ref bestQ);
        return best;
    }

    private static void Consider(StaticVariant? candidate, int q, ref StaticVariant best, ref int bestQ)
    {
        if (candidate is null || q <= 0)
        {
            return;
        }

        if (q > bestQ || bestQ <= 0 || (q == bestQ && candidate.Length < best.Length))
        {
            best = candidate;
            bestQ = q;
        }
    }

    /// <summary>Parses <c>q=0.5</c> among parameters into thousandths; -1 when malformed.</summary>
    private static int ParseQuality(ReadOnlySpan<char> parameters)
    {
        var result = 1000;
        foreach (var range in parameters.Split(';'))
        {
            var parameter = parameters[range].Trim();
            if (parameter.Length == 0)
            {
                continue;
            }

            if (parameter.Length < 2 || (parameter[0] | 0x20) != 'q' || parameter[1] != '=')
            {
                continue; // other parameters carry no weight
            }

            var number = parameter[2..];
            if (number.Length is 0 or > 5 || !double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var q) || q > 1)
            {
                return -1;
            }

            result = (int)Math.Round(q * 1000);
        }

        return result;
    }
}
