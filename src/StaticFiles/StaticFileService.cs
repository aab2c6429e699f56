using Sidecar.Configuration;

namespace Sidecar.StaticFiles;

/// <summary>
/// Owns the live <see cref="StaticCatalog"/>: builds it at start-up, then in the background fills in compressed
/// variants, rescans watched mounts and follows config reloads, each time swapping in a complete new catalog so
/// a request sees either the old state or the new one, never a mix.
/// </summary>
public sealed class StaticFileService : IDisposable
{
    private readonly ConfigHolder _config;
    private readonly ILogger<StaticFileService> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _gate = new();
    private StaticCatalog _catalog = StaticCatalog.Empty;
    private SidecarSettings? _builtFrom;
    private IReadOnlyList<StaticMount> _mounts = [];
    private MemoryBudget _budget = new(0);
    private int _generation;
    private Task _fillIn = Task.CompletedTask;

    public StaticFileService(ConfigHolder config, ILogger<StaticFileService> logger)
    {
        _config = config;
        _logger = logger;
    }

    /// <summary>Completes when the start-up (or latest) compression pass has swapped its variants in.</summary>
    public Task FillInCompleted => Volatile.Read(ref _fillIn);

    /// <summary>Bytes of static file bodies held in memory now.</summary>
    public long MemoryInUse => Volatile.Read(ref _budget).Used;

    /// <summary>The catalog for this request's settings; a changed static configuration triggers a rebuild.</summary>
    public StaticCatalog Current(SidecarSettings settings)
    {
        if (!ReferenceEquals(settings, Volatile.Read(ref _builtFrom)))
        {
            OnSettingsChanged(settings);
        }

        return Volatile.Read(ref _catalog);
    }

    /// <summary>Builds the first catalog synchronously (so the first request is served from it) and starts the background work.</summary>
    public void Start()
    {
        var settings = _config.Settings;
        lock (_gate)
        {
            Rebuild(settings, StaticMount.FromSettings(settings));
        }
    }

    public void Stop() => _stopping.Cancel();

    private void OnSettingsChanged(SidecarSettings settings)
    {
        lock (_gate)
        {
            if (ReferenceEquals(settings, _builtFrom))
            {
                return;
            }

            var mounts = StaticMount.FromSettings(settings);
            if (mounts.SequenceEqual(_mounts) && SameEngine(settings, _builtFrom))
            {
                Volatile.Write(ref _builtFrom, settings);
                return;
            }

            // Requests keep the old catalog until the new one is complete.
            Volatile.Write(ref _builtFrom, settings);
            _ = RunOnOwnThread(() =>
            {
                lock (_gate)
                {
                    // Two quick reloads: only the latest settings are worth building.
                    if (ReferenceEquals(Volatile.Read(ref _builtFrom), settings))
                    {
                        Rebuild(settings, mounts);
                    }
                }
            });
        }
    }

    private static bool SameEngine(SidecarSettings a, SidecarSettings? b) =>
        b is not null && a.StaticMemory == b.StaticMemory && a.StaticCompress == b.StaticCompress && a.StaticCompressDir == b.StaticCompressDir;

    private void Rebuild(SidecarSettings settings, IReadOnlyList<StaticMount> mounts)
    {
        var generation = Interlocked.Increment(ref _generation);
        var budget = new MemoryBudget(settings.StaticMemory);
        var builder = new CatalogBuilder(budget, settings.StaticCompress, _logger);
        var catalogs = new List<MountCatalog>();
        foreach (var mount in mounts)
        {
            if (catalogs.Any(c => c.Mount.Url == mount.Url))
            {
                _logger.LogError("Static files: {Url} is mounted twice; only the first ({First}) is served", mount.Url, catalogs.First(c => c.Mount.Url == mount.Url).Mount.Root);
                continue;
            }

            catalogs.Add(builder.Build(mount));
        }

        _mounts = mounts;
        Volatile.Write(ref _budget, budget);
        Volatile.Write(ref _builtFrom, settings);
        var previous = Interlocked.Exchange(ref _catalog, new StaticCatalog(catalogs));
        foreach (var replaced in previous.Mounts)
        {
            RetireReplaced(replaced, replacement: null);
        }

        var cacheDirectory = settings.StaticCompressDir.Length > 0 ? settings.StaticCompressDir : Path.Combine(Path.GetTempPath(), "sidecar-static");
        var compress = settings.StaticCompress;
        Volatile.Write(ref _fillIn, RunOnOwnThread(() => BackgroundWork(generation, catalogs, compress, cacheDirectory)));
    }

    /// <summary>
    /// Catalog builds hash every file and fill-in compression runs Brotli q11: seconds of CPU on big trees. A thread
    /// of their own keeps them off the thread pool, which keeps a single worker warm for requests.
    /// </summary>
    private static Task RunOnOwnThread(Action work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void BackgroundWork(int generation, List<MountCatalog> catalogs, bool compress, string cacheDirectory)
    {
        var token = _stopping.Token;
        if (compress)
        {
            foreach (var catalog in catalogs)
            {
                FillIn(generation, catalog, cacheDirectory, token);
            }
        }

        // Started only after compression so a watcher never races the start-up pass on the same mount.
        foreach (var catalog in catalogs.Where(c => c.Mount.Watch))
        {
            _ = WatchAsync(generation, catalog.Mount, compress, cacheDirectory, token);
        }
    }

    private void FillIn(int generation, MountCatalog catalog, string cacheDirectory, CancellationToken token)
    {
        try
        {
            var filled = new FillInCompressor(_budget, _logger).Fill(catalog, cacheDirectory, token);
            if (!ReferenceEquals(filled, catalog))
            {
                Swap(generation, catalog, filled);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Static files: compressing mount {Mount} failed; its files are served as they are", catalog.Mount.Name);
        }
    }

    /// <summary>Polls a watched mount (inotify misses changes on network volumes and ConfigMap symlink swaps).</summary>
    private async Task WatchAsync(int generation, StaticMount mount, bool compress, string cacheDirectory, CancellationToken token)
    {
        using var timer = new PeriodicTimer(mount.WatchPeriod);
        try
        {
            while (await timer.WaitForNextTickAsync(token) && Volatile.Read(ref _generation) == generation)
            {
                var current = Volatile.Read(ref _catalog).Mounts.FirstOrDefault(c => c.Mount == mount);
                if (current is null)
                {
                    return;
                }

                try
                {
                    var builder = new CatalogBuilder(_budget, compress, _logger);
                    if (builder.Scan(mount.Root) == current.Fingerprint)
                    {
                        continue;
                    }

                    _logger.LogInformation("Static files: mount {Mount} changed on disk; rebuilding its catalog", mount.Name);
                    var rebuilt = builder.Build(mount);
                    if (Swap(generation, current, rebuilt) && compress)
                    {
                        FillIn(generation, rebuilt, cacheDirectory, token);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One bad moment on disk (a file half-written by an upload) must not end the watch for good: the
                    // catalog in force stays, and the next tick tries again.
                    _logger.LogError(e, "Static files: rebuilding mount {Mount} failed; keeping its catalog and watching on", mount.Name);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Replaces one mount's catalog, unless a newer rebuild has replaced it already.</summary>
    private bool Swap(int generation, MountCatalog expected, MountCatalog replacement)
    {
        while (true)
        {
            var catalog = Volatile.Read(ref _catalog);
            var index = catalog.Mounts.ToList().IndexOf(expected);
            if (index < 0 || Volatile.Read(ref _generation) != generation)
            {
                return false;
            }

            var mounts = catalog.Mounts.ToArray();
            mounts[index] = replacement;
            if (Interlocked.CompareExchange(ref _catalog, new StaticCatalog(mounts), catalog) == catalog)
            {
                RetireReplaced(expected, replacement);
                return true;
            }
        }
    }

    /// <summary>Variants only the old catalog has give their memory back; those the replacement shares (fill-in keeps every variant it does not add) stay loaded.</summary>
    private static void RetireReplaced(MountCatalog old, MountCatalog? replacement)
    {
        var kept = (replacement?.Assets.Values ?? []).SelectMany(a => a.Variants()).ToHashSet();
        foreach (var variant in old.Assets.Values.SelectMany(a => a.Variants()))
        {
            if (!kept.Contains(variant))
            {
                variant.Retire();
            }
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }
}
