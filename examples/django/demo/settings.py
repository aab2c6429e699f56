"""Settings for the example app that runs behind the Sidecar reverse proxy.

Everything that differs between a laptop and a cluster comes from the environment (set in the
Deployment) or, for credentials, from files in a Secret volume (DJANGO_SECRETS_DIR, default
/etc/secrets). Files rather than environment variables: they are not inherited by child processes,
not printed by `env` in a debug shell, and a rotated Secret reaches the volume without a restart.
"""
import os
from pathlib import Path

import django
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name, default=""):
    return os.environ.get(name, default)


def env_bool(name, default="off"):
    return env(name, default).strip().lower() in ("1", "on", "true", "yes")


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


SECRETS_DIR = Path(env("DJANGO_SECRETS_DIR", "/etc/secrets"))


def secret(key, fallback_variable=None):
    """A credential from the Secret volume; an environment variable is only a fallback for local runs."""
    try:
        # `kubectl create secret --from-file` keeps a trailing newline; a password never ends in one.
        return (SECRETS_DIR / key).read_text().rstrip("\r\n")
    except FileNotFoundError:
        return env(fallback_variable) if fallback_variable else ""


DEBUG = env_bool("DJANGO_DEBUG")

SECRET_KEY = secret("django-secret-key", "DJANGO_SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        f"No secret key: mount a Secret with the key 'django-secret-key' at {SECRETS_DIR} "
        "or set DJANGO_SECRET_KEY (local runs only)."
    )

# The sidecar forwards the client's original Host header, so ALLOWED_HOSTS lists the public names,
# never the Pod IP (kubelet probes go to the sidecar's admin port and never reach Django).
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

# The sidecar overwrites X-Forwarded-Proto on every request unless the peer is in its
# SIDECAR_TRUSTED_NETWORKS (the TLS-terminating ingress), so a client cannot spoof it and Django may
# trust it: request.is_secure(), CSRF origin checks and SECURE_SSL_REDIRECT then see https.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The original Host is forwarded as Host, so X-Forwarded-Host is not needed.
USE_X_FORWARDED_HOST = False

# On when the site is served over https (an ingress terminating TLS in front of the sidecar).
HTTPS = env_bool("DJANGO_HTTPS")
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 3600 if HTTPS else 0
SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")
if django.VERSION < (4, 0):
    # Django 3.2 expects bare host names here; 4.0+ requires the scheme.
    CSRF_TRUSTED_ORIGINS = [origin.split("://", 1)[-1] for origin in CSRF_TRUSTED_ORIGINS]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "notes",
]

MIDDLEWARE = [
    # First, so health checks answer before host validation, https redirects or the database.
    "notes.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves /static/ when the app runs without the sidecar (or the sidecar's static serving is off);
    # behind the sidecar those requests never reach gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

if env("DJANGO_DB_ENGINE", "sqlite") == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": env("DJANGO_DB_HOST", "postgres"),
            "PORT": env("DJANGO_DB_PORT", "5432"),
            "NAME": env("DJANGO_DB_NAME", "app"),
            "USER": secret("db-user", "DJANGO_DB_USER"),
            "PASSWORD": secret("db-password", "DJANGO_DB_PASSWORD"),
            # Sync workers handle one request at a time: one persistent connection per worker.
            "CONN_MAX_AGE": 60,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env("DJANGO_DB_NAME", str(BASE_DIR / "db.sqlite3")),
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# collectstatic runs at image build time into STATIC_ROOT. Hashed names (ManifestStaticFilesStorage)
# let the sidecar serve them with far-future immutable caching; WhiteNoise's subclass also writes .gz
# and .br variants next to each file, which the sidecar serves to clients that accept them.
STATIC_URL = env("DJANGO_STATIC_URL", "/static/")
STATIC_ROOT = env("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles"))
_STATIC_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
if django.VERSION >= (4, 2):
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": _STATIC_STORAGE},
    }
else:
    STATICFILES_STORAGE = _STATIC_STORAGE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
}
