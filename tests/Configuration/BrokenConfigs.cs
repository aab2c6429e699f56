namespace Sidecar.Tests.Configuration;

/// <summary>
/// Configs a user might really write or a volume might really hold, each with the exact problem lines the user is
/// shown: by <c>--check-config</c>, at start-up, and in the log line of a rejected reload.
/// </summary>
public static class BrokenConfigs
{
    public sealed record Case(string Name, string Content, string[] Problems)
    {
        public override string ToString() => Name;
    }

    public static IReadOnlyList<Case> All { get; } =
    [
        new("empty file", "",
            ["config file is empty (an empty ConfigMap key or a half-written file); expected a JSON object"]),
        new("only whitespace", " \n\t\n",
            ["config file is empty (an empty ConfigMap key or a half-written file); expected a JSON object"]),
        new("half-written", "{\n  \"Sidecar\": { \"MaxBodySize\": \"20m\" },\n  \"ReverseProxy\": { \"Routes\": {",
            ["the JSON ends before it is complete (line 3): a half-written or truncated file, or a missing closing bracket"]),
        new("missing comma", "{\n  \"Sidecar\": { \"MaxBodySize\": \"20m\" \"AccessLog\": \"off\" }\n}",
            ["not valid JSON at line 2, column 37: check for a missing comma, quote or bracket"]),
        new("a key written twice", "{ \"Sidecar\": { \"MaxBodySize\": \"20m\",\n  \"MaxBodySize\": \"1k\" } }",
            ["key 'MaxBodySize' appears twice in one object: keep one (the last would win unnoticed)"]),
        new("a setting written twice in different case", "{ \"Sidecar\": { \"MaxBodySize\": \"20m\", \"maxbodysize\": \"1k\" } }",
            ["Sidecar.maxbodysize: MaxBodySize is set twice in this section; keep one (the last would win unnoticed)"]),
        new("not an object", "[\"Sidecar\"]",
            ["the file must hold a JSON object with the keys Sidecar and/or ReverseProxy"]),
        new("unknown top-level key", "{ \"Sidecars\": { } }",
            ["unknown top-level key 'Sidecars' (expected Sidecar, ReverseProxy)"]),
        new("misspelled setting", "{ \"Sidecar\": { \"MaxBodySise\": \"20m\" } }",
            ["Sidecar.MaxBodySise: unknown setting; did you mean 'MaxBodySize'?"]),
        new("size without a unit it knows", "{ \"Sidecar\": { \"MaxBodySize\": \"20 megs\" } }",
            ["Sidecar.MaxBodySize: '20 megs' is not a size; expected bytes or a number with k, m or g (e.g. 10m, 512k)"]),
        new("nonsense duration", "{ \"Sidecar\": { \"UpstreamTimeout\": \"soon\" } }",
            ["Sidecar.UpstreamTimeout: 'soon' is not a duration; expected e.g. 500ms, 30s, 5m or 1h (a bare number is seconds)"]),
        new("upstream cluster pointed elsewhere", "{ \"ReverseProxy\": { \"Routes\": { \"r\": { \"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/{**rest}\" } } },\n  \"Clusters\": { \"upstream\": { \"Destinations\": { \"d\": { \"Address\": \"http://127.0.0.1:27001\" } } } } } }",
            ["ReverseProxy.Clusters.upstream.Destinations: the 'upstream' cluster always sends to Upstream (SIDECAR_UPSTREAM or Sidecar.Upstream); remove its Destinations, or give a cluster with other destinations another name"]),
        new("rate grace period Kestrel refuses", "{ \"Sidecar\": { \"RateGracePeriod\": \"1s\" } }",
            ["Sidecar.RateGracePeriod: must be more than 1s (Kestrel checks data rates once a second)"]),
        new("zero routes", "{ \"ReverseProxy\": { \"Routes\": { } } }",
            ["ReverseProxy.Routes: no routes, so every request would get 404; add a route, or remove the ReverseProxy section to send everything to Upstream"]),
        new("clusters but no routes", "{ \"ReverseProxy\": { \"Clusters\": { \"asgi\": { \"Destinations\": { \"a\": { \"Address\": \"http://127.0.0.1:8001\" } } } } } }",
            ["ReverseProxy.Routes: no routes, so every request would get 404; add a route, or remove the ReverseProxy section to send everything to Upstream"]),
        new("route to a missing cluster", Route("\"ClusterId\": \"asgi\", \"Match\": { \"Path\": \"/ws/{**rest}\" }"),
            ["ReverseProxy.Routes.r: ClusterId 'asgi' names no cluster (known: upstream)"]),
        new("route without a cluster", Route("\"Match\": { \"Path\": \"/{**rest}\" }"),
            ["ReverseProxy.Routes.r: ClusterId is missing; name the cluster to send matching requests to (for example \"upstream\")"]),
        new("misspelled YARP key", Route("\"ClusterId\": \"upstream\", \"Match\": { \"Paht\": \"/x\" }"),
            ["ReverseProxy.Routes.r.Match: unknown key 'Paht'; did you mean 'Path'?"]),
        new("wrong type in YARP key", Route("\"ClusterId\": \"upstream\", \"Order\": \"first\", \"Match\": { \"Path\": \"/x\" }"),
            ["ReverseProxy.Routes.r.Order: expected a whole number, found \"first\""]),
        new("invalid route pattern (YARP's check)", Route("\"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/api/{id\" }"),
            ["ReverseProxy.Routes.r: Invalid path '/api/{id' for route 'r'. (There is an incomplete parameter in the route template. Check that each '{' character has a matching '}' character.)"]),
        new("unknown transform (YARP's check)", Route("\"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/x\" }, \"Transforms\": [ { \"PathPrefixx\": \"/y\" } ]"),
            ["ReverseProxy.Routes.r: Unknown transform: PathPrefixx"]),
        new("bad route size", Route("\"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/x\" }, \"Metadata\": { \"Sidecar.MaxBodySize\": \"lots\" }"),
            ["ReverseProxy.Routes.r.Metadata.Sidecar.MaxBodySize: 'lots' is not a size; expected bytes or a number with k, m or g (e.g. 10m, 512k)"]),
        new("zero route timeout", Route("\"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/x\" }, \"Metadata\": { \"Sidecar.UpstreamTimeout\": \"0s\" }"),
            ["ReverseProxy.Routes.r.Metadata.Sidecar.UpstreamTimeout: must be greater than zero"]),
        new("unknown route setting", Route("\"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/x\" }, \"Metadata\": { \"Sidecar.Buffering\": \"off\" }"),
            ["ReverseProxy.Routes.r.Metadata.Sidecar.Buffering: unknown setting; known: Sidecar.RequestBuffering, Sidecar.ResponseBuffering, Sidecar.MaxBodySize, Sidecar.UpstreamTimeout"]),
        new("authorization policy (the sidecar authenticates no one)", Route("\"ClusterId\": \"upstream\", \"AuthorizationPolicy\": \"default\", \"Match\": { \"Path\": \"/x\" }"),
            ["ReverseProxy.Routes.r.AuthorizationPolicy: the sidecar authenticates no one, so it cannot apply an authorization policy; check access in the app and remove this key"]),
        new("CORS, rate limiting and output caching policies", Route("\"ClusterId\": \"upstream\", \"CorsPolicy\": \"disable\", \"RateLimiterPolicy\": \"default\", \"OutputCachePolicy\": \"default\", \"Match\": { \"Path\": \"/x\" }"),
            [
                "ReverseProxy.Routes.r.CorsPolicy: the sidecar does not answer CORS; let the app send CORS headers (django-cors-headers, flask-cors) and remove this key",
                "ReverseProxy.Routes.r.RateLimiterPolicy: the sidecar has no rate limiter; cap requests to the app with the cluster's \"Sidecar.MaxConcurrency\" metadata and remove this key",
                "ReverseProxy.Routes.r.OutputCachePolicy: the sidecar does not cache app responses (the app's Cache-Control reaches the client and any CDN); remove this key",
            ]),
        new("YARP's route timeout", Route("\"ClusterId\": \"upstream\", \"Timeout\": \"00:05:00\", \"Match\": { \"Path\": \"/x\" }"),
            ["ReverseProxy.Routes.r.Timeout: set a route's timeout with \"Metadata\": { \"Sidecar.UpstreamTimeout\": \"5m\" } instead; YARP's Timeout needs request-timeout middleware the sidecar does not run"]),
        new("YARP's body size limit", Route("\"ClusterId\": \"upstream\", \"MaxRequestBodySize\": 1000000, \"Match\": { \"Path\": \"/x\" }"),
            ["ReverseProxy.Routes.r.MaxRequestBodySize: the sidecar buffers bodies and applies its own limit; set it with \"Metadata\": { \"Sidecar.MaxBodySize\": \"200m\" } instead"]),
        new("destination that is not an address",
            "{ \"ReverseProxy\": { \"Routes\": { \"r\": { \"ClusterId\": \"asgi\", \"Match\": { \"Path\": \"/ws/{**rest}\" } } }, \"Clusters\": { \"asgi\": { \"Destinations\": { \"a\": { \"Address\": \"127.0.0.1:8001\" } } } } } }",
            ["ReverseProxy.Clusters.asgi.Destinations.a.Address: '127.0.0.1:8001' is not an upstream address; expected http://host:port, e.g. http://127.0.0.1:8001"]),
        new("ids that differ only in case",
            "{ \"ReverseProxy\": { \"Routes\": { \"api\": { \"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/api\" } }, \"API\": { \"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/API2\" } } } } }",
            ["ReverseProxy.Routes: the id 'api' appears 2 times (ids are compared ignoring case)"]),
        new("several problems at once",
            "{ \"Sidecar\": { \"MaxBodySise\": \"1m\", \"AccessLog\": \"maybe\" }, \"ReverseProxy\": { \"Routes\": { \"r\": { \"ClusterId\": \"upstream\", \"Match\": { \"Path\": \"/x\", \"Methods\": \"GET\" } } } } }",
            [
                "Sidecar.MaxBodySise: unknown setting; did you mean 'MaxBodySize'?",
                "Sidecar.AccessLog: 'maybe' is not a switch; expected on/off (also true/false, yes/no, 1/0)",
                "ReverseProxy.Routes.r.Match.Methods: expected a list [...], found \"GET\"",
            ]),
    ];

    private static string Route(string body) => $"{{ \"ReverseProxy\": {{ \"Routes\": {{ \"r\": {{ {body} }} }} }} }}";
}
