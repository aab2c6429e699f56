using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;

namespace Sidecar.StaticFiles;

/// <summary>The validator checks of RFC 9110 §13: entity-tag lists, weak and strong comparison, HTTP-dates.</summary>
public static class Preconditions
{
    /// <summary>True when any entity-tag in the header (or <c>*</c>) matches <paramref name="opaque"/>.</summary>
    public static bool Matches(StringValues header, string opaque, bool strong)
    {
        foreach (var value in header)
        {
            if (value is null)
            {
                continue;
            }

            var rest = value.AsSpan();
            while (true)
            {
                rest = rest.TrimStart(" \t,");
                if (rest.Length == 0)
                {
                    break;
                }

                if (rest[0] == '*')
                {
                    return true;
                }

                var weak = false;
                if (rest.StartsWith("W/", StringComparison.Ordinal))
                {
                    weak = true;
                    rest = rest[2..];
                }

                if (rest.Length == 0 || rest[0] != '"')
                {
                    return false; // malformed list: nothing after this point can be trusted
                }

                var end = rest[1..].IndexOf('"');
                if (end < 0)
                {
                    return false;
                }

                var tag = rest.Slice(1, end);
                if (tag.SequenceEqual(opaque) && !(strong && weak))
                {
                    return true;
                }

                rest = rest[(end + 2)..];
            }
        }

        return false;
    }

    /// <summary>A single valid HTTP-date, or null (absent, malformed, or several values: all to be ignored).</summary>
    public static DateTimeOffset? Date(StringValues header) =>
        header.Count == 1 && HeaderUtilities.TryParseDate(header[0], out var date) ? date : null;
}

/// <summary>The outcome of parsing a Range header against a representation's length.</summary>
public readonly record struct ByteRange(long Start, long Length)
{
    public static readonly ByteRange None = new(-1, 0);
    public static readonly ByteRange Unsatisfiable = new(-2, 0);

    public bool IsSingle => Start >= 0;

    public bool IsUnsatisfiable => Start == -2;

    /// <summary>
    /// One byte range (RFC 9110 §14.1.2). Several ranges, other units or bad syntax give <see cref="None"/>, so the
    /// whole file is sent; a syntactically valid range that misses the file gives <see cref="Unsatisfiable"/>.
    /// </summary>
    public static ByteRange Parse(StringValues header, long length)
    {
        if (header.Count != 1 || header[0] is not { } value)
        {
            return None;
        }

        var span = value.AsSpan().Trim();
        if (!span.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
        {
            return None;
        }

        span = span[6..].Trim();
        if (span.Contains(','))
        {
            return None;
        }

        var dash = span.IndexOf('-');
        if (dash < 0)
        {
            return None;
        }

        var first = span[..dash].Trim();
        var last = span[(dash + 1)..].Trim();
        if (first.Length == 0)
        {
            // Suffix range: the last N bytes.
            if (!TryNumber(last, out var suffix))
            {
                return None;
            }

            if (suffix == 0)
            {
                return Unsatisfiable;
            }

            // The whole of an empty file is what "the last N bytes" asks for (RFC 9110 §14.1.1), and no 206 can
            // describe zero bytes, so it is sent as a 200, as nginx does.
            if (length == 0)
            {
                return None;
            }

            var count = Math.Min(suffix, length);
            return new ByteRange(length - count, count);
        }

        if (!TryNumber(first, out var start))
        {
            return None;
        }

        long end;
        if (last.Length == 0)
        {
            end = length - 1;
        }
        else if (!TryNumber(last, out end) || end < start)
        {
            return None;
        }

        if (start >= length)
        {
            return Unsatisfiable;
        }

        end = Math.Min(end, length - 1);
        return new ByteRange(start, end - start + 1);
    }

    private static bool TryNumber(ReadOnlySpan<char> digits, out long number)
    {
        number = 0;
        if (digits.Length is 0 or > 18)
        {
            return false;
        }

        foreach (var c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            number = number * 10 + (c - '0');
        }

        return true;
    }
}
