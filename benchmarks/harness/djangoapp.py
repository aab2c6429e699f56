"""The Django app behind every proxy: the setup shared/bench/README.md describes.

A fresh `django-admin startproject` with DEBUG off, WhiteNoise (CompressedManifestStaticFilesStorage, so
collectstatic writes hashed names plus .br and .gz siblings) and four views: /hello (small JSON), /upload
(returns the body length), /big (1 MiB, or ?mib=N) and /sleep?ms=N (holds its worker N ms). Two extra
static files of the sizes the benchmark asks for (4 KB and 500 KB) are cut from Django's own admin CSS/JS,
so they compress like real assets.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

PROJECT = "benchsite"

VIEWS = '''
import json
import time
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

_MIB = b"0123456789abcdef" * 65536


def hello(request):
    return JsonResponse({"hello": "world"})


@csrf_exempt
def upload(request):
    total = 0
    while True:
        chunk = request.read(65536)
        if not chunk:
            break
        total += len(chunk)
    return JsonResponse({"length": total})


def sleep(request):
    # Holds the worker like a database query would; the admission queue scenario needs requests that take time.
    ms = int(request.GET.get("ms", "20"))
    time.sleep(ms / 1000)
    return JsonResponse({"slept_ms": ms})


def big(request):
    mib = int(request.GET.get("mib", "1"))
    return HttpResponse(_MIB * mib, content_type="application/octet-stream")
'''

URLS = '''
from django.urls import path
from . import views

urlpatterns = [
    path("hello", views.hello),
    path("upload", views.upload),
    path("big", views.big),
    path("sleep", views.sleep),
]
'''

SETTINGS_TAIL = '''
# --- benchmark settings (appended by benchmarks/harness/djangoapp.py) ---
DEBUG = False
ALLOWED_HOSTS = ["*"]
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "assets"]
STATICFILES_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                  "whitenoise.middleware.WhiteNoiseMiddleware")
DATA_UPLOAD_MAX_MEMORY_SIZE = None
'''

# Static files the static scenario requests: (logical name, size in bytes, source assets to cut from).
STATIC_FILES = {
    "small": ("bench/small.css", 4 * 1024, ["admin/css/base.css", "admin/css/forms.css", "admin/css/changelists.css"]),
    "large": ("bench/large.js", 500 * 1024, ["admin/js/vendor/jquery/jquery.js", "admin/js/vendor/xregexp/xregexp.js",
                                             "admin/js/vendor/select2/select2.full.js", "admin/js/actions.js"]),
}


def _django_admin_static() -> Path:
    out = subprocess.run(["/usr/bin/python3", "-c", "import django, os; print(os.path.dirname(django.__file__))"],
                         check=True, capture_output=True, text=True).stdout.strip()
    return Path(out) / "contrib" / "admin" / "static"


def _cut(sources, size):
    # Lines with url()/@import would make the manifest storage look for files that are not there.
    text = b"".join(line for s in sources for line in s.read_bytes().splitlines(keepends=True)
                    if b"url(" not in line and b"@import" not in line and b"sourceMappingURL" not in line)
    return (text * (size // len(text) + 1))[:size]


def create(root: Path) -> dict:
    """Creates the project under root and returns where things are: project dir, static root, static urls."""
    project_dir = root / "django"
    if project_dir.exists():
        shutil.rmtree(project_dir)
    project_dir.mkdir(parents=True)
    subprocess.run(["/usr/bin/django-admin", "startproject", PROJECT, str(project_dir)], check=True)
    pkg = project_dir / PROJECT
    (pkg / "views.py").write_text(VIEWS)
    (pkg / "urls.py").write_text(URLS)
    with open(pkg / "settings.py", "a") as f:
        f.write(SETTINGS_TAIL)

    admin_static = _django_admin_static()
    for logical, size, sources in STATIC_FILES.values():
        target = project_dir / "assets" / logical
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_cut([admin_static / s for s in sources], size))

    subprocess.run(["/usr/bin/python3", "manage.py", "collectstatic", "--noinput", "-v", "0"],
                   cwd=project_dir, check=True)
    static_root = project_dir / "staticfiles"
    manifest = json.loads((static_root / "staticfiles.json").read_text())["paths"]
    urls = {}
    for key, (logical, size, _) in STATIC_FILES.items():
        hashed = manifest[logical]
        for suffix in ("", ".br", ".gz"):
            if not (static_root / (hashed + suffix)).exists():
                raise RuntimeError(f"collectstatic did not write {hashed}{suffix}")
        urls[key] = "/static/" + hashed
    # nginx workers run as nobody: they must be able to read the static root.
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)
    return {"project_dir": project_dir, "module": f"{PROJECT}.wsgi", "static_root": static_root, "static_urls": urls,
            "static_sizes": {k: (static_root / manifest[v[0]]).stat().st_size for k, v in STATIC_FILES.items()},
            "static_br_sizes": {k: (static_root / (manifest[v[0]] + ".br")).stat().st_size for k, v in STATIC_FILES.items()}}
