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
    public enum Coding { Identity, Gzip, Brotli }

    public static StaticVariant Select(StringValues header, StaticAsset asset)
    {
        if (header.Count == 0 || !asset.HasVariants)
        {
            return asset.Identity;
        }

        return Choose(header, asset.Identity.Length, asset.Gzip?.Length, asset.Brotli?.Length) switch
        {
            Coding.Brotli => asset.Brotli!,
            Coding.Gzip => asset.Gzip!,
            _ => asset.Identity,
        };
    }

    /// <summary>
    /// The same choice for a body not yet compressed (the app's): Brotli is taken to come out smaller than gzip, and
    /// either smaller than the plain body.
    /// </summary>
    public static Coding SelectForUnknownSizes(StringValues header) =>
        header.Count == 0 ? Coding.Identity : Choose(header, identityLength: 3, gzipLength: 2, brotliLength: 1);

    private static Coding Choose(StringValues header, long identityLength, long? gzipLength, long? brotliLength)
    {
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

        var best = Coding.Identity;
        var bestLength = identityLength;
        // Unmentioned identity is acceptable but the last resort, so "br;q=0.5" still means "br, please".
        var bestQ = identity >= 0 ? identity : star >= 0 ? star : 1;
        Consider(Coding.Gzip, gzipLength, gzip >= 0 ? gzip : Math.Max(star, 0), ref best, ref bestLength, ref bestQ);
        Consider(Coding.Brotli, brotliLength, br >= 0 ? br : Math.Max(star, 0), ref best, ref bestLength, ref bestQ);
        return best;
    }

    private static void Consider(Coding candidate, long? length, int q, ref Coding best, ref long bestLength, ref int bestQ)
    {
        if (length is not { } candidateLength || q <= 0)
        {
            return;
        }

        if (q > bestQ || bestQ <= 0 || (q == bestQ && candidateLength < bestLength))
        {
            best = candidate;
            bestLength = candidateLength;
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
