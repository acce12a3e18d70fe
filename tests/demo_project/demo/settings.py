"""Settings for the asgi.stack demo project.

Everything that differs between hosts comes from the environment that the
asgi.stack.django_app role writes (see its README): the secret key, the allowed
hosts, and the directories for static files, media and data.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = os.environ.get("DJANGO_DEBUG", "false").lower() == "true"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
ASGI_APPLICATION = "demo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATA_DIR = Path(os.environ.get("DJANGO_DATA_DIR", BASE_DIR / "data"))
# PostgreSQL when django_app writes its settings (django_app_database), with
# Django's own connection pool (psycopg's) rather than persistent connections,
# which Django advises against under ASGI; SQLite otherwise. Each server
# process holds at most DJANGO_DB_POOL_SIZE connections (postgresql_pool_size),
# for which asgi.stack.postgresql sizes max_connections. The pool checks
# a connection before lending it (CONN_HEALTH_CHECKS): after a restart of
# PostgreSQL (a change of its settings) the app connects again instead of
# failing on a connection that died.
if os.environ.get("DJANGO_DB_NAME"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ["DJANGO_DB_HOST"],
            "PORT": os.environ["DJANGO_DB_PORT"],
            "NAME": os.environ["DJANGO_DB_NAME"],
            "USER": os.environ["DJANGO_DB_USER"],
            "PASSWORD": os.environ["DJANGO_DB_PASSWORD"],
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"pool": {"min_size": 1, "max_size": int(os.environ.get("DJANGO_DB_POOL_SIZE", "4"))}},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
        }
    }

# Channels groups (the chat room, ws/room/<name>/) reach every process and
# host through Redis when django_app writes its URL (django_app_redis_url);
# without it, the in-memory layer reaches only the clients of one process.
REDIS_URL = os.environ.get("DJANGO_REDIS_URL", "")
if REDIS_URL:
    # channels-redis waits for the next message 5 s at a time (BZPOPMIN), and
    # redis-py 8 gives up on a read after 5 s unless told otherwise: the
    # consumer of a WebSocket that stayed quiet that long failed, and the
    # client was cut. No read timeout, as redis-py 7 had and channels-redis
    # expects: with 10 s, the receive of a consumer whose client had left went
    # on waiting (Python 3.11), and held the server's stop until its graceful
    # timeout. (None is the fix given in channels-redis issue 422.)
    REDIS = {"address": REDIS_URL, "socket_timeout": None}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS]}}}
    # Django's cache in the same Redis (its keys apart), so that every process
    # and host shares it: a count, a computed page, sessions kept in the cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("DJANGO_STATIC_ROOT", str(BASE_DIR / "static"))
# Static files under names that carry their content's hash, which nginx
# then lets browsers keep for a year (immutable).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("DJANGO_MEDIA_ROOT", str(BASE_DIR / "media"))

USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Production security. The ASGI server reports the scheme that nginx saw
# (X-Forwarded-Proto, trusted only from nginx's socket), so is_secure() is
# true for HTTPS requests and these settings hold without SECURE_PROXY_SSL_HEADER.
SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT", "true").lower() == "true"
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0"))
SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
