using System.Net;
using Microsoft.AspNetCore.Http;
using Sidecar.Configuration;

namespace Sidecar.Micro;

/// <summary>The sidecar's settings as start-up builds them, from defaults plus a few overrides.</summary>
internal static class Fixtures
{
    public static SidecarConfig Config(params (string Key, string Value)[] environment)
    {
        var values = environment.ToDictionary(e => e.Key, e => e.Value);
        return ConfigLoader.Parse(null, null, key => values.GetValueOrDefault(key));
    }

    /// <summary>A request as wrk sends it through the proxy: loopback peer, a few headers.</summary>
    public static DefaultHttpContext Request(string path = "/hello")
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Loopback;
        context.Request.Method = "GET";
        context.Request.Scheme = "http";
        context.Request.Protocol = "HTTP/1.1";
        context.Request.Host = new HostString("127.0.0.1:8080");
        context.Request.Path = path;
        context.Request.Headers.UserAgent = "wrk";
        return context;
    }
}
