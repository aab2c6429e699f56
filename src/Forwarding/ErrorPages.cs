namespace Sidecar.Forwarding;

/// <summary>
/// nginx's <c>error_page</c> for the answers the sidecar gives itself (502 while gunicorn restarts, 503 from a full
/// queue, 413): a page from <c>ErrorPages</c> named by status, for browsers only. API clients keep the plain-text
/// line, which says what failed. Pages are read when used: error answers are rare, and an edited page (a ConfigMap
/// update) shows without a reload.
/// </summary>
public static class ErrorPages
{
    /// <summary>Larger than any sensible error page; a bigger file is a mistake, not a page.</summary>
    public const int MaxPageSize = 256 * 1024;

    /// <summary>The page to send for <paramref name="status"/>, or null to send the plain-text message.</summary>
    public static byte[]? Find(HttpContext context, string directory, int status, ILogger logger)
    {
        if (directory.Length == 0 || !AcceptsHtml(context.Request))
        {
            return null;
        }

        var path = Path.Combine(directory, $"{status}.html");
        try
        {
            using var file = File.OpenHandle(path);
            var length = RandomAccess.GetLength(file);
            if (length > MaxPageSize)
            {
                logger.LogWarning("Error page {Path} is {Length} bytes, over the {Max} KiB limit; sending the plain-text message", path, length, MaxPageSize / 1024);
                return null;
            }

            var page = new byte[length];
            return RandomAccess.Read(file, page, 0) == length ? page : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // No page for this status (or no directory, named as a config warning): the plain-text message is the answer.
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning("Error page {Path} cannot be read ({Error}); sending the plain-text message", path, e.Message);
            return null;
        }
    }

    /// <summary>
    /// What is wrong with a set directory that gives no page, as a config warning: named at start, by --check-config
    /// and by a reload that changes it. Not an error: the answers stay correct, only plainer.
    /// </summary>
    public static string? Problem(string directory)
    {
        if (directory.Length == 0)
        {
            return null;
        }

        if (!Directory.Exists(directory))
        {
            return $"ErrorPages directory {directory} does not exist; error answers stay plain text";
        }

        return Directory.EnumerateFiles(directory, "*.html").Any(f => int.TryParse(Path.GetFileNameWithoutExtension(f), out var status) && status is >= 400 and < 600)
            ? null
            : $"ErrorPages directory {directory} has no page named by status (such as 502.html); error answers stay plain text";
    }

    /// <summary>text/html listed with a quality above zero ("text/html;q=0" means not acceptable, RFC 9110 §12.4.2).</summary>
    private static bool AcceptsHtml(HttpRequest request) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParseList(request.Headers.Accept, out var types)
        && types.Any(t => t.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase) && t.Quality is not 0);
}
