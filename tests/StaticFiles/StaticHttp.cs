using System.IO.Compression;
using System.Net.Sockets;
using System.Text;

namespace Sidecar.Tests.StaticFiles;

/// <summary>Helpers shared by the static-file tests: decoding bodies, and raw requests HttpClient would normalise.</summary>
public static class StaticHttp
{
    public static HttpRequestMessage Get(string path, params (string Name, string Value)[] headers) => Request(HttpMethod.Get, path, headers);

    public static HttpRequestMessage Request(HttpMethod method, string path, params (string Name, string Value)[] headers)
    {
        var request = new HttpRequestMessage(method, path);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return request;
    }

    /// <summary>The body with its Content-Encoding undone.</summary>
    public static async Task<byte[]> DecodedBody(HttpResponseMessage response)
    {
        var raw = await response.Content.ReadAsByteArrayAsync();
        return Decode(raw, string.Join(",", response.Content.Headers.ContentEncoding));
    }

    public static byte[] Decode(byte[] raw, string coding)
    {
        if (coding.Length == 0)
        {
            return raw;
        }

        using var input = new MemoryStream(raw);
        using Stream decoder = coding switch
        {
            "br" => new BrotliStream(input, CompressionMode.Decompress),
            "gzip" => new GZipStream(input, CompressionMode.Decompress),
            _ => throw new InvalidOperationException("unexpected coding " + coding),
        };
        using var output = new MemoryStream();
        decoder.CopyTo(output);
        return output.ToArray();
    }

    public static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? string.Join(", ", values)
            : "";

    /// <summary>Sends a request line exactly as written (no client-side normalisation) and returns status line, headers and body.</summary>
    public static async Task<(int Status, string Text)> RawAsync(int port, string target, string method = "GET")
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        using var stream = client.GetStream();
        var request = Encoding.Latin1.GetBytes($"{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(request);
        using var response = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await stream.CopyToAsync(response, timeout.Token);
        var text = Encoding.Latin1.GetString(response.ToArray());
        var status = text.Length > 12 && int.TryParse(text.AsSpan(9, 3), out var code) ? code : 0;
        return (status, text);
    }
}
