using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Http;
using Sidecar.Configuration;
using Sidecar.Forwarding;
using Sidecar.Logging;
using Yarp.ReverseProxy.Transforms;

namespace Sidecar.Micro;

/// <summary>What every proxied request pays outside YARP and Kestrel: request id, record, access log line, forwarded headers.</summary>
[MemoryDiagnoser]
public class RequestPathBenchmarks
{
    private readonly SidecarSettings _settings = Fixtures.Config().Settings;
    private AccessLogMiddleware _logged = null!;
    private AccessLogMiddleware _unlogged = null!;
    private AccessLogWriter _writer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _writer = new AccessLogWriter(Stream.Null);
        _logged = new AccessLogMiddleware(_ => Task.CompletedTask, new ConfigHolder(Fixtures.Config()), _writer, []);
        _unlogged = new AccessLogMiddleware(_ => Task.CompletedTask, new ConfigHolder(Fixtures.Config(("SIDECAR_ACCESS_LOG", "off"))), _writer, []);
    }

    [GlobalCleanup]
    public async Task Cleanup() => await _writer.DisposeAsync();

    [Benchmark(Description = "request id: generate")]
    public string NewRequestId() => RequestIds.New();

    [Benchmark(Description = "request id: accept client's")]
    public string? AcceptRequestId() => RequestIds.Accept("0192f5d2c3b47c4e9a1b2c3d4e5f6a7b");

    [Benchmark(Description = "access log middleware, log on")]
    public Task AccessLogOn() => _logged.InvokeAsync(Fixtures.Request());

    [Benchmark(Description = "access log middleware, log off")]
    public Task AccessLogOff() => _unlogged.InvokeAsync(Fixtures.Request());

    [Benchmark(Description = "forwarded headers")]
    public int ForwardedHeadersApply()
    {
        var context = new RequestTransformContext
        {
            HttpContext = Fixtures.Request(),
            ProxyRequest = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:8000/hello"),
        };
        ForwardedHeaders.Apply(context, _settings);
        return context.ProxyRequest.Headers.NonValidated.Count;
    }
}
