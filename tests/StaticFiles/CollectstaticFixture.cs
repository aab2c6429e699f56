using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Sidecar.Tests.Infrastructure;

namespace Sidecar.Tests.StaticFiles;

/// <summary>
/// A real Django project (Debian's python3-django) with the admin's assets plus our own, run through a real
/// <c>collectstatic</c> once per test class. Subclasses pick the storage: WhiteNoise's compressed manifest
/// storage (.br/.gz siblings) or Django's plain manifest storage (the sidecar's fill-in compression path).
/// Next to STATIC_ROOT sit the things no request may ever reach: a secret file and escaping symlinks.
/// </summary>
public abstract class CollectstaticFixture : IDisposable
{
    public const string Secret = "TOP-SECRET-DO-NOT-SERVE";
    public const string Python = "/usr/bin/python3";

    protected CollectstaticFixture(string storage)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("sidecar-static-").FullName;
        ProjectDirectory = Path.Combine(Directory, "project");
        StaticRoot = Path.Combine(Directory, "staticfiles");
        CompressDirectory = Path.Combine(Directory, "compress-cache");
        Storage = storage;
        WriteProject();
        Run(Python, ["-m", "django", "collectstatic", "--noinput", "-v", "0"]);
        // collectstatic stamps "now"; a fixed past time keeps date comparisons in the tests away from the clock.
        foreach (var file in System.IO.Directory.EnumerateFiles(StaticRoot, "*", SearchOption.AllDirectories))
        {
            File.SetLastWriteTimeUtc(file, CollectedAt.UtcDateTime);
        }

        AddHostileEntries();
        Manifest = ReadManifest();
        _sidecar = new Lazy<SidecarFactory>(() => new SidecarFactory(new Uri("http://127.0.0.1:1"), Settings()));
    }

    public static readonly DateTimeOffset CollectedAt = new(2024, 5, 6, 7, 8, 9, TimeSpan.Zero);

    public string Directory { get; }

    public string ProjectDirectory { get; }

    public string StaticRoot { get; }

    public string CompressDirectory { get; }

    public string Storage { get; }

    /// <summary>Original name -> hashed name, from the staticfiles.json collectstatic wrote.</summary>
    public IReadOnlyDictionary<string, string> Manifest { get; }

    /// <summary>The environment that makes <c>django</c> commands and the WSGI app use this project.</summary>
    public Dictionary<string, string> DjangoEnvironment => new()
    {
        ["PYTHONPATH"] = ProjectDirectory,
        ["DJANGO_SETTINGS_MODULE"] = "settings",
        ["STATIC_ROOT"] = StaticRoot,
        ["STATIC_STORAGE"] = Storage,
    };

    public string Hashed(string original) => Manifest[original];

    private readonly Lazy<SidecarFactory> _sidecar;

    /// <summary>One sidecar serving this STATIC_ROOT for the whole class; its upstream is a closed port, so a request that falls through gets 502.</summary>
    public SidecarFactory Sidecar => _sidecar.Value;

    /// <summary>Every regular file under STATIC_ROOT, not following the (hostile) symbolic links.</summary>
    public IEnumerable<string> Files() => System.IO.Directory.EnumerateFiles(StaticRoot, "*",
        new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true });

    public byte[] Bytes(string relative) => File.ReadAllBytes(Path.Combine(StaticRoot, relative));

    /// <summary>The sidecar's settings serving this STATIC_ROOT, plus any extra.</summary>
    public Dictionary<string, string> Settings(params (string Key, string Value)[] extra)
    {
        var settings = new Dictionary<string, string>
        {
            ["SIDECAR_STATIC_ROOT"] = StaticRoot,
            ["SIDECAR_STATIC_COMPRESS_DIR"] = CompressDirectory,
        };
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return settings;
    }

    private void WriteProject()
    {
        System.IO.Directory.CreateDirectory(ProjectDirectory);
        File.WriteAllText(Path.Combine(ProjectDirectory, "settings.py"), """
            import os
            BASE = os.path.dirname(os.path.abspath(__file__))
            SECRET_KEY = "static-tests"
            DEBUG = False
            ALLOWED_HOSTS = ["*"]
            INSTALLED_APPS = ["django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.staticfiles"]
            MIDDLEWARE = ["whitenoise.middleware.WhiteNoiseMiddleware"]
            ROOT_URLCONF = "urls"
            STATIC_URL = "/static/"
            STATIC_ROOT = os.environ["STATIC_ROOT"]
            STATICFILES_DIRS = [os.path.join(BASE, "assets")]
            STATICFILES_STORAGE = os.environ["STATIC_STORAGE"]
            """.Replace("            ", ""));
        File.WriteAllText(Path.Combine(ProjectDirectory, "urls.py"), "urlpatterns = []\n");
        File.WriteAllText(Path.Combine(ProjectDirectory, "wsgi.py"), "from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n");

        var assets = Path.Combine(ProjectDirectory, "assets");
        var css = new StringBuilder("@import url(\"base.css\");\n.logo { background: url(\"../img/logo.svg\"); }\n");
        for (var i = 0; i < 600; i++)
        {
            css.Append(".rule-").Append(i).Append(" { margin: ").Append(i % 17).Append("px; color: #").Append((i * 7919 % 0xffffff).ToString("x6")).Append("; }\n");
        }

        Write(assets, "css/app.css", css.ToString());
        Write(assets, "css/base.css", "body { font-family: sans-serif; }\n" + string.Concat(Enumerable.Repeat("/* padding so compression pays */\n", 60)));
        Write(assets, "img/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\">" + string.Concat(Enumerable.Repeat("<rect width=\"1\" height=\"1\"/>", 80)) + "</svg>\n");
        Write(assets, "js/app.js", "// app\n" + string.Concat(Enumerable.Range(0, 300).Select(i => $"export function f{i}() {{ return {i}; }}\n")));
        Write(assets, "js/module.mjs", string.Concat(Enumerable.Range(0, 200).Select(i => $"export const v{i} = {i};\n")));
        Write(assets, "js/app.js.map", "{\"version\":3,\"sources\":[\"app.ts\"],\"mappings\":\"" + new string('A', 2000) + "\"}");
        Write(assets, "site.webmanifest", "{\"name\":\"Sidecar\",\"icons\":[]," + string.Concat(Enumerable.Repeat("\"x\":1,", 100)) + "\"y\":2}");
        Write(assets, "data.json", "[" + string.Join(",", Enumerable.Range(0, 400)) + "]");
        Write(assets, "LICENSE", string.Concat(Enumerable.Repeat("Permission is hereby granted, free of charge.\n", 40)));
        Write(assets, "tiny.txt", "hi\n");
        var random = new Random(7);
        WriteBytes(assets, "app.wasm", [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, .. new byte[3000]]);
        WriteBytes(assets, "fonts/font.woff2", RandomBytes(random, 5000));
        WriteBytes(assets, "img/photo.avif", RandomBytes(random, 4000));
        // Above the in-memory limit, so it is sent from disk.
        var big = new StringBuilder();
        for (var i = 0; big.Length < 500 * 1024; i++)
        {
            big.Append("line ").Append(i).Append(": the quick brown fox jumps over the lazy dog\n");
        }

        Write(assets, "big.txt", big.ToString());
    }

    private void AddHostileEntries()
    {
        File.WriteAllText(Path.Combine(Directory, "secret.txt"), Secret);
        File.WriteAllText(Path.Combine(StaticRoot, ".env"), Secret);
        System.IO.Directory.CreateDirectory(Path.Combine(StaticRoot, ".git"));
        File.WriteAllText(Path.Combine(StaticRoot, ".git", "config"), Secret);
        File.CreateSymbolicLink(Path.Combine(StaticRoot, "escape.txt"), Path.Combine(Directory, "secret.txt"));
        // Not a link to an ancestor: WhiteNoise (which follows links) would recurse forever in the differential test.
        var outside = System.IO.Directory.CreateDirectory(Path.Combine(Directory, "outside")).FullName;
        File.WriteAllText(Path.Combine(outside, "secret.txt"), Secret);
        System.IO.Directory.CreateSymbolicLink(Path.Combine(StaticRoot, "up"), outside);
        // A link that stays inside the root is fine, and must be served.
        File.CreateSymbolicLink(Path.Combine(StaticRoot, "alias.txt"), Path.Combine(StaticRoot, "tiny.txt"));
    }

    private Dictionary<string, string> ReadManifest()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(StaticRoot, "staticfiles.json")));
        return document.RootElement.GetProperty("paths").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    private void Run(string program, string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = ProjectDirectory };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in DjangoEnvironment)
        {
            info.Environment[key] = value;
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {output.Result}{error}");
        }
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    private static void Write(string root, string relative, string text) => WriteBytes(root, relative, Encoding.UTF8.GetBytes(text));

    private static void WriteBytes(string root, string relative, byte[] bytes)
    {
        var path = Path.Combine(root, relative);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, bytes);
    }

    public void Dispose()
    {
        if (_sidecar.IsValueCreated)
        {
            _sidecar.Value.Dispose();
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>collectstatic with WhiteNoise's CompressedManifestStaticFilesStorage: hashed names with .br and .gz siblings.</summary>
public sealed class CompressedStatic() : CollectstaticFixture("whitenoise.storage.CompressedManifestStaticFilesStorage");

/// <summary>collectstatic with Django's plain ManifestStaticFilesStorage: no siblings, so the sidecar compresses at start-up.</summary>
public sealed class PlainStatic() : CollectstaticFixture("django.contrib.staticfiles.storage.ManifestStaticFilesStorage");
