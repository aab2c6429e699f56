using System.Globalization;

namespace Sidecar.Configuration;

/// <summary>
/// Parses the value syntaxes settings accept: nginx-style sizes (<c>10m</c>, <c>512k</c>, bytes),
/// durations (<c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>; a bare number is seconds), and booleans.
/// Every parser throws <see cref="FormatException"/> with a message that shows the accepted forms,
/// so the caller only has to prefix the setting's name.
/// </summary>
public static class Units
{
    public static long ParseSize(string text)
    {
        var s = text.Trim();
        if (s.Length == 0)
        {
            throw new FormatException("empty value; expected a size such as 10m, 512k or 1048576");
        }

        long multiplier = 1;
        var last = char.ToLowerInvariant(s[^1]);
        if (last is 'k' or 'm' or 'g')
        {
            multiplier = last switch { 'k' => 1L << 10, 'm' => 1L << 20, _ => 1L << 30 };
            s = s[..^1];
        }

        if (!long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number > long.MaxValue / multiplier)
        {
            throw new FormatException($"'{text}' is not a size; expected bytes or a number with k, m or g (e.g. 10m, 512k)");
        }

        return number * multiplier;
    }

    public static TimeSpan ParseDuration(string text)
    {
        var s = text.Trim().ToLowerInvariant();
        double unitMs = 1000;
        string number = s;
        if (s.EndsWith("ms", StringComparison.Ordinal)) { unitMs = 1; number = s[..^2]; }
        else if (s.EndsWith('s')) { number = s[..^1]; }
        else if (s.EndsWith('m')) { unitMs = 60_000; number = s[..^1]; }
        else if (s.EndsWith('h')) { unitMs = 3_600_000; number = s[..^1]; }

        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value)
            || double.IsInfinity(value) || value * unitMs > TimeSpan.MaxValue.TotalMilliseconds)
        {
            throw new FormatException($"'{text}' is not a duration; expected e.g. 500ms, 30s, 5m or 1h (a bare number is seconds)");
        }

        return TimeSpan.FromMilliseconds(value * unitMs);
    }

    /// <summary>A duration that must be more than zero (a timeout of zero would fail every request).</summary>
    public static TimeSpan ParsePositiveDuration(string text)
    {
        var duration = ParseDuration(text);
        return duration > TimeSpan.Zero ? duration : throw new FormatException("must be greater than zero");
    }

    public static bool ParseBool(string text) => text.Trim().ToLowerInvariant() switch
    {
        "true" or "on" or "yes" or "1" => true,
        "false" or "off" or "no" or "0" => false,
        _ => throw new FormatException($"'{text}' is not a switch; expected on/off (also true/false, yes/no, 1/0)"),
    };

    public static int ParsePort(string text)
    {
        if (int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535)
        {
            return port;
        }

        throw new FormatException($"'{text}' is not a TCP port; expected a number from 1 to 65535");
    }

    public static int ParseCount(string text)
    {
        if (int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return n;
        }

        throw new FormatException($"'{text}' is not a whole number");
    }

    public static string FormatSize(long bytes) => bytes switch
    {
        0 => "0",
        _ when bytes % (1L << 30) == 0 => $"{bytes >> 30} GiB",
        _ when bytes % (1L << 20) == 0 => $"{bytes >> 20} MiB",
        _ when bytes % (1L << 10) == 0 => $"{bytes >> 10} KiB",
        _ => $"{bytes} bytes",
    };
}
