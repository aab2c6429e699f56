namespace Sidecar.Health;

/// <summary>
/// While draining, every response says <c>Connection: close</c>. New requests are still taken during ShutdownDelay,
/// but a kept-alive client (an ingress's upstream pool) otherwise went on reusing its connection until the delay
/// ended and the server closed it idle, under a request already on its way: a broken pipe, and a POST that cannot
/// be retried. Told to close, the client opens a new connection for its next request, which is accepted until the
/// delay ends and refused (safe to retry elsewhere) after it.
/// </summary>
public static class CloseConnectionsWhileDraining
{
    public static IApplicationBuilder UseCloseConnectionsWhileDraining(this IApplicationBuilder app)
    {
        var drain = app.ApplicationServices.GetRequiredService<DrainState>();
        return app.Use((context, next) =>
        {
            if (drain.IsDraining)
            {
                context.Response.Headers.Connection = "close";
            }

            return next(context);
        });
    }
}
