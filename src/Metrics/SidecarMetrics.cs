using Prometheus;

namespace Sidecar.Telemetry;

/// <summary>
/// The sidecar's own metric families, in prometheus-net's default registry so one scrape of /metrics also
/// carries what other capabilities (static files, admission queue) register there. Every label is bounded:
/// route ids and mount names, normalised methods, status classes and a fixed set of reasons.
/// </summary>
internal static class SidecarMetrics
{
    /// <summary>
    /// Seconds. Wide enough for a gunicorn worker timeout (30 s) and the upstream timeout (60 s), fine enough
    /// below 100 ms where a healthy app answers; the same set for every duration so panels line up.
    /// </summary>
    public static readonly double[] DurationBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    public static readonly Counter Requests = Metrics.CreateCounter(
        "sidecar_requests_total",
        "Requests answered on the application port, by route (route id or static mount), method and status class.",
        "route", "method", "status_class");

    public static readonly Histogram RequestDuration = Metrics.CreateHistogram(
        "sidecar_request_duration_seconds",
        "Time from the request's arrival to the end of its response, as the client experienced it.",
        new HistogramConfiguration { LabelNames = ["route"], Buckets = DurationBuckets });

    public static readonly Histogram UpstreamTimeToFirstByte = Metrics.CreateHistogram(
        "sidecar_upstream_time_to_first_byte_seconds",
        "Time from handing the request to the upstream until its response headers arrived (the app's think time).",
        new HistogramConfiguration { LabelNames = ["route"], Buckets = DurationBuckets });

    public static readonly Histogram UpstreamDuration = Metrics.CreateHistogram(
        "sidecar_upstream_duration_seconds",
        "Time the upstream was busy with a request: from handing it over until its response body was fully read (or it failed).",
        new HistogramConfiguration { LabelNames = ["route"], Buckets = DurationBuckets });

    public static readonly Histogram RequestBufferingDuration = Metrics.CreateHistogram(
        "sidecar_request_buffering_duration_seconds",
        "Time spent reading a request body from the client before the upstream was contacted (buffered requests with a body only).",
        new HistogramConfiguration { LabelNames = ["route"], Buckets = DurationBuckets });

    public static readonly Histogram ResponseBufferingDuration = Metrics.CreateHistogram(
        "sidecar_response_buffering_duration_seconds",
        "Time spent draining an upstream response into the buffer (buffered responses only); short means the gunicorn worker was freed early.",
        new HistogramConfiguration { LabelNames = ["route"], Buckets = DurationBuckets });

    public static readonly Counter ReceivedBytes = Metrics.CreateCounter(
        "sidecar_received_bytes_total",
        "Request body bytes received from clients, by route: bytes buffered, or Content-Length when the route does not buffer.",
        "route");

    public static readonly Counter SentBytes = Metrics.CreateCounter(
        "sidecar_sent_bytes_total",
        "Response body bytes sent to clients, by route: each body's length (the static file's, else Content-Length); streamed responses without a length are not counted, and a client that went away may have received less.",
        "route");

    public static readonly Counter SpooledToDisk = Metrics.CreateCounter(
        "sidecar_spooled_to_disk_total",
        "Request bodies (direction=request) and responses (direction=response) that outgrew memory and were buffered in a temp file.",
        "direction");

    public static readonly Counter SpoolFiles = Metrics.CreateCounter(
        "sidecar_spool_files_created_total",
        "Temp files created to buffer bodies.");

    public static readonly Counter SpoolWrittenBytes = Metrics.CreateCounter(
        "sidecar_spool_written_bytes_total",
        "Bytes written to spool temp files.");

    public static readonly Gauge SpoolInUse = Metrics.CreateGauge(
        "sidecar_spool_bytes",
        "Disk space currently held by spooled bodies of requests in flight.");

    public static readonly Gauge StaticMemory = Metrics.CreateGauge(
        "sidecar_static_memory_bytes",
        "Static file bodies held in memory now, read in when a client first asks for them; StaticMemory is the limit.");

    public static readonly Gauge SpoolQuota = Metrics.CreateGauge(
        "sidecar_spool_quota_bytes",
        "The spool disk quota (SIDECAR_SPOOL_QUOTA); 0 means limited only by the disk.");

    public static readonly Counter Rejections = Metrics.CreateCounter(
        "sidecar_rejections_total",
        "Requests and connections the sidecar refused or failed itself instead of the app answering, by reason.",
        "reason");

    public static readonly Counter ClientAborts = Metrics.CreateCounter(
        "sidecar_client_aborts_total",
        "Requests whose client went away (or was disconnected) before the exchange finished, by route.",
        "route");

    public static readonly Gauge RequestsInFlight = Metrics.CreateGauge(
        "sidecar_requests_in_flight",
        "Requests on the application port that have arrived and not yet finished (client side).");

    public static readonly Gauge UpstreamRequestsInFlight = Metrics.CreateGauge(
        "sidecar_upstream_requests_in_flight",
        "Requests handed to the upstream whose response has not been fully read yet: roughly the busy gunicorn workers.");

    public static readonly Counter ConfigReloads = Metrics.CreateCounter(
        "sidecar_config_reloads_total",
        "Configuration reloads by result: applied, or rejected (the previous configuration stays in force).",
        "result");

    public static readonly Counter ConfigRestartRequired = Metrics.CreateCounter(
        "sidecar_config_reloads_restart_required_total",
        "Applied reloads that changed settings which only take effect after a restart.");

    public static readonly Gauge ConfigLastSuccess = Metrics.CreateGauge(
        "sidecar_config_last_reload_success_timestamp_seconds",
        "Unix time when the configuration in force was applied (start-up counts as the first).");

    public static readonly Gauge ConfigInfo = Metrics.CreateGauge(
        "sidecar_config_info",
        "Always 1; the hash label identifies the configuration in force, to compare Pods or spot a reload.",
        "hash");

    public static readonly Gauge Draining = Metrics.CreateGauge(
        "sidecar_draining",
        "1 while the sidecar is shutting down (readiness false, in-flight requests finishing), else 0.");

    public static readonly Gauge ThreadPoolThreads = Metrics.CreateGauge(
        "sidecar_thread_pool_threads",
        "Threads in the .NET thread pool; steady growth under load means work is blocking threads (starvation).");

    public static readonly Counter ThreadPoolCompletedItems = Metrics.CreateCounter(
        "sidecar_thread_pool_completed_items_total",
        "Work items the .NET thread pool has completed.");

    public static readonly Gauge BuildInfo = Metrics.CreateGauge(
        "sidecar_build_info",
        "Always 1; labels name the sidecar version, the source commit it was built from and the .NET runtime version.",
        "version", "commit", "dotnet_version");
}
