"""SongForge settings: the one place that reads the environment.

Every production part is chosen here by an environment variable; code reads
``django.conf.settings`` and never ``os.environ``. A bad value stops start-up
with an ``ImproperlyConfigured`` error that names the variable.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from songforge import numba_cache
from songforge.storage import s3_transfer_config

BASE_DIR = Path(__file__).resolve().parent.parent

# Django's generic classes (ModelAdmin[Model], ModelForm[Model]…) subscriptable at run time, as mypy sees them.
django_stubs_ext.monkeypatch()


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name}={value} must be at most {maximum}.")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def env_required(name: str, why: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set {why}.")
    return value


# --- core -----------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
TESTING = env_bool("SONGFORGE_TESTING", "pytest" in sys.modules)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (set DEBUG=1 for local development).")
ALLOWED_HOSTS = [h for h in env_str("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env_str("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

DATA_DIR = Path(env_str("SONGFORGE_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
REQUIRE_SERVICES = env_bool("SONGFORGE_REQUIRE_SERVICES", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_dramatiq",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_htmx",
    "allauth",
    "allauth.account",
    "songforge",
    "catalog",
    "uploads",
    "generation",
    "royalties",
    "distribution",
    "staff",
]

MIDDLEWARE = [
    "songforge.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "songforge.urls"
WSGI_APPLICATION = "songforge.wsgi.application"
ASGI_APPLICATION = "songforge.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------
_database_url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'songforge.sqlite3'}"
_database_scheme = urlparse(_database_url).scheme
if _database_scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {_database_scheme!r} is not supported; use sqlite:///PATH or postgres://USER@HOST/NAME."
    )
DATABASES: dict[str, dict[str, Any]] = {"default": dict(dj_database_url.parse(_database_url, conn_max_age=60))}
if _database_scheme == "sqlite":
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if TESTING:
        # A file (one per process) in WAL mode, not Django's shared-cache in-memory default: there a worker
        # thread writing while a live-server thread reads gets "database table is locked" (shared-cache
        # table locks never wait). With a file each thread has its own connection; readers never block the
        # writer and writers wait up to "timeout" for each other, as in production.
        DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF"
        DATABASES["default"]["TEST"] = {
            "NAME": str(Path(tempfile.gettempdir()) / f"songforge-test-{os.getpid()}.sqlite3")
        }
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- storage --------------------------------------------------------------
STORAGE_KIND = env_choice("SONGFORGE_STORAGE", "local", ("local", "s3"))
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
_staticfiles = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
if STORAGE_KIND == "s3":
    STORAGES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env_required("SONGFORGE_S3_BUCKET", "when SONGFORGE_STORAGE=s3"),
                "endpoint_url": env_str("SONGFORGE_S3_ENDPOINT_URL") or None,
                "access_key": env_str("SONGFORGE_S3_ACCESS_KEY_ID") or None,
                "secret_key": env_str("SONGFORGE_S3_SECRET_ACCESS_KEY") or None,
                "region_name": env_str("SONGFORGE_S3_REGION", "us-east-1"),
                "addressing_style": env_choice("SONGFORGE_S3_ADDRESSING_STYLE", "path", ("path", "virtual")),
                "signature_version": "s3v4",
                "file_overwrite": False,
                "querystring_auth": True,
                # Reads spill to a temporary file beyond this size instead of living in memory.
                "max_memory_size": 8 * 1024 * 1024,
                "transfer_config": s3_transfer_config(),
            },
        },
        "staticfiles": _staticfiles,
    }
else:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": _staticfiles,
    }
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024  # bigger uploads stream to a temporary file
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- jobs (Dramatiq) --------------------------------------------------------
_DRAMATIQ_MIDDLEWARE = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "songforge.logging.JobIdMiddleware",
    "songforge.jobs.WorkerPrefetchMiddleware",
    "songforge.jobs.GracefulStopMiddleware",
] + (["songforge.jobs.ReaperMiddleware"] if env_bool("SONGFORGE_JOB_REAPER", not TESTING) else [])
DRAMATIQ_BROKER_URL = env_str("DRAMATIQ_BROKER_URL")
_broker_scheme = urlparse(DRAMATIQ_BROKER_URL).scheme if DRAMATIQ_BROKER_URL else ""
if _broker_scheme in {"redis", "rediss"}:
    DRAMATIQ_BROKER_KIND = "redis"
    DRAMATIQ_BROKER: dict[str, Any] = {
        "BROKER": "songforge.broker.RedisBroker",  # fetches only for idle threads
        # The key prefix: deployments (or test runs) sharing one Redis database keep apart by it.
        "OPTIONS": {"url": DRAMATIQ_BROKER_URL, "namespace": env_str("SONGFORGE_DRAMATIQ_NAMESPACE", "dramatiq")},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
elif _broker_scheme in {"amqp", "amqps"}:
    DRAMATIQ_BROKER_KIND = "rabbitmq"
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {"url": DRAMATIQ_BROKER_URL},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE,
    }
elif not DRAMATIQ_BROKER_URL:
    # Embedded default: an in-memory broker whose worker threads the web process
    # (or a management command) starts itself; see songforge/jobs.py.
    DRAMATIQ_BROKER_KIND = "embedded"
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.stub.StubBroker",
        "OPTIONS": {},
        "MIDDLEWARE": _DRAMATIQ_MIDDLEWARE
        + (["songforge.jobs.EmbeddedWorkerMiddleware"] if env_bool("SONGFORGE_EMBEDDED_WORKER", not TESTING) else []),
    }
else:
    raise ImproperlyConfigured(
        f"DRAMATIQ_BROKER_URL scheme {_broker_scheme!r} is not supported; use redis://…, amqp://… or leave it empty."
    )
DRAMATIQ_TASKS_DATABASE = "default"
DRAMATIQ_AUTODISCOVER_MODULES = ["tasks"]
SONGFORGE_EMBEDDED_WORKER_THREADS = env_int("SONGFORGE_WORKER_THREADS", 2, minimum=1)
# A running stage or identification refreshes its claim every HEARTBEAT seconds; a claim not
# refreshed for STALE_AFTER seconds is taken over (the reaper in every worker re-enqueues it).
SONGFORGE_JOB_HEARTBEAT_SECONDS = env_int("SONGFORGE_JOB_HEARTBEAT_SECONDS", 5, minimum=1)
SONGFORGE_JOB_STALE_AFTER_SECONDS = env_int("SONGFORGE_JOB_STALE_AFTER_SECONDS", 20, minimum=2)
if SONGFORGE_JOB_STALE_AFTER_SECONDS < 2 * SONGFORGE_JOB_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "SONGFORGE_JOB_STALE_AFTER_SECONDS must be at least twice SONGFORGE_JOB_HEARTBEAT_SECONDS, "
        "or live jobs would be taken over between two heartbeats."
    )
# Tries per stage and per identification (crashes and time limits count) before it is marked failed.
SONGFORGE_JOB_MAX_ATTEMPTS = env_int("SONGFORGE_JOB_MAX_ATTEMPTS", 3, minimum=1)
# Messages a worker fetches per queue: 0 = as many as it has threads, so that a message never waits
# in a busy worker's memory while another worker is idle (songforge.jobs.WorkerPrefetchMiddleware).
SONGFORGE_WORKER_PREFETCH = env_int("SONGFORGE_WORKER_PREFETCH", 0, minimum=0)

# --- auth -----------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = env_choice("SONGFORGE_EMAIL_VERIFICATION", "optional", ("none", "optional", "mandatory"))
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("SONGFORGE_FROM_EMAIL", "SongForge <noreply@songforge.local>")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- API ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "songforge.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {
        "statements": env_str("SONGFORGE_STATEMENTS_RATE", "600/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SongForge API",
    "DESCRIPTION": "Uploads, identification, generation, releases and royalty statements.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- product parts ----------------------------------------------------------
CATALOG_PROVIDER = env_choice("SONGFORGE_CATALOG", "local", ("local", "apple-music"))
APPLE_MUSIC = {
    "TEAM_ID": env_str("SONGFORGE_APPLE_TEAM_ID"),
    "KEY_ID": env_str("SONGFORGE_APPLE_KEY_ID"),
    "PRIVATE_KEY_PATH": env_str("SONGFORGE_APPLE_PRIVATE_KEY_PATH"),
    "STOREFRONT": env_str("SONGFORGE_APPLE_STOREFRONT", "us"),
    "BASE_URL": env_str("SONGFORGE_APPLE_BASE_URL", "https://api.music.apple.com"),
}
if CATALOG_PROVIDER == "apple-music":
    for _key, _var in (
        ("TEAM_ID", "SONGFORGE_APPLE_TEAM_ID"),
        ("KEY_ID", "SONGFORGE_APPLE_KEY_ID"),
        ("PRIVATE_KEY_PATH", "SONGFORGE_APPLE_PRIVATE_KEY_PATH"),
    ):
        if not APPLE_MUSIC[_key]:
            raise ImproperlyConfigured(f"{_var} must be set when SONGFORGE_CATALOG=apple-music.")

IDENTIFIER = env_choice("SONGFORGE_IDENTIFIER", "local", ("local", "shazam"))
SHAZAM_BASE_URL = env_str("SONGFORGE_SHAZAM_BASE_URL")  # empty = Shazam itself; set for a test or proxy server
SHAZAM_RETRY_ATTEMPTS = env_int("SONGFORGE_SHAZAM_RETRY_ATTEMPTS", 2, minimum=1)  # per request; the actor retries too
FINGERPRINT_INDEX_DIR = DATA_DIR / "fingerprints"

DISTRIBUTOR = env_choice("SONGFORGE_DISTRIBUTOR", "outbox", ("outbox", "platoon"))
OUTBOX_DIR = Path(env_str("SONGFORGE_OUTBOX_DIR", str(DATA_DIR / "outbox"))).resolve()
PLATOON = {
    "BASE_URL": env_str("SONGFORGE_PLATOON_BASE_URL"),
    "TOKEN": env_str("SONGFORGE_PLATOON_TOKEN"),
    "WEBHOOK_SECRET": env_str("SONGFORGE_PLATOON_WEBHOOK_SECRET"),
}
if DISTRIBUTOR == "platoon":
    for _key, _var in (("BASE_URL", "SONGFORGE_PLATOON_BASE_URL"), ("TOKEN", "SONGFORGE_PLATOON_TOKEN")):
        if not PLATOON[_key]:
            raise ImproperlyConfigured(f"{_var} must be set when SONGFORGE_DISTRIBUTOR=platoon.")

ISRC_REGISTRANT = env_str("SONGFORGE_ISRC_REGISTRANT", "QZ-S8F")  # country code + registrant code
UPLOAD_SET_SIZE = 10
UPLOAD_MAX_BYTES = env_int("SONGFORGE_UPLOAD_MAX_BYTES", 200 * 1024 * 1024, minimum=1)
SOURCE_SHARE_BPS = env_int("SONGFORGE_SOURCE_SHARE_BPS", 6700, minimum=0)  # 67% to the ten songs
MASTER_SHARE_BPS = env_int("SONGFORGE_MASTER_SHARE_BPS", 5000, minimum=0)  # master vs publishing inside a song
INFLUENCE_SPLIT = env_choice("SONGFORGE_INFLUENCE_SPLIT", "measured", ("measured", "equal"))
# The 33% training pool: public-domain items (no rights to pay) are left out of its denominator ("exclude")
# or counted and their share escrowed ("escrow"); which unlinked items are public domain, by source id prefix.
TRAINING_PUBLIC_DOMAIN_POLICY = env_choice("SONGFORGE_TRAINING_PUBLIC_DOMAIN", "exclude", ("exclude", "escrow"))
TRAINING_PUBLIC_DOMAIN_PREFIXES = tuple(
    prefix.strip()
    for prefix in env_str("SONGFORGE_TRAINING_PUBLIC_DOMAIN_PREFIXES", "music21:").split(",")
    if prefix.strip()
)
FINETUNE_UPLOAD_FRACTION = env_int("SONGFORGE_FINETUNE_UPLOAD_PERCENT", 67, minimum=0)
ALLOW_NONCOMMERCIAL_TRAINING = env_bool("SONGFORGE_ALLOW_NONCOMMERCIAL_TRAINING", True)
# Generation engine: committed base checkpoint, fine-tune size, default length, guard threshold.
GENERATION_CHECKPOINT = Path(
    env_str("SONGFORGE_GENERATION_CHECKPOINT", str(BASE_DIR / "generation" / "ml" / "weights" / "catalog_model.pt"))
)
GENERATION_FINETUNE_STEPS = env_int("SONGFORGE_FINETUNE_STEPS", 30, minimum=0)
GENERATION_FINETUNE_BATCH = env_int("SONGFORGE_FINETUNE_BATCH", 6, minimum=1)
GENERATION_SECONDS = env_int("SONGFORGE_GENERATION_SECONDS", 120, minimum=10)  # when the artist does not choose
# Takes composed per generation (the artist keeps one); 1 halves compose/synthesis work on small machines.
GENERATION_TAKES = env_int("SONGFORGE_GENERATION_TAKES", 2, minimum=1, maximum=2)
GENERATION_SECTION_BARS = env_int("SONGFORGE_SECTION_BARS", 0, minimum=0)  # 0: from the requested length
GENERATION_CANDIDATES = env_int("SONGFORGE_SECTION_CANDIDATES", 3, minimum=1)  # per section, closest motion wins
GENERATION_MAX_SHARED_NOTES = env_int("SONGFORGE_MAX_SHARED_NOTES", 8, minimum=3)
GENERATION_TORCH_THREADS = env_int("SONGFORGE_TORCH_THREADS", 1, minimum=1)
PAYOUT_MINIMUM_MINOR = env_int("SONGFORGE_PAYOUT_MINIMUM_MINOR", 1000, minimum=0)
# A statement repeating more than this percentage of its (period, store, territory, ISRC, currency) keys from
# earlier statements is held for a staff decision (0: any repeated key holds it; 100: never held).
STATEMENT_OVERLAP_HOLD_PERCENT = env_int("SONGFORGE_STATEMENT_OVERLAP_HOLD_PERCENT", 10, minimum=0, maximum=100)
SYNTHESIS_MAX_SECONDS = env_int("SONGFORGE_SYNTHESIS_MAX_SECONDS", 600, minimum=1)  # longest piece rendered

# --- i18n -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- logging --------------------------------------------------------------
LOG_JSON = env_bool("SONGFORGE_LOG_JSON", False)
LOG_LEVEL = env_choice("SONGFORGE_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "songforge.logging.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(context_id)s] %(message)s"},
        "json": {"()": "songforge.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context"],
            "formatter": "json" if LOG_JSON else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "numba": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}

if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = env_bool("SONGFORGE_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- security: limits -------------------------------------------------------
# Longest song accepted, judged from the container's declared duration before decoding, and
# enforced while decoding (a header can lie). See uploads/audio.py.
UPLOAD_MAX_SECONDS = env_int("SONGFORGE_MAX_UPLOAD_SECONDS", 900, minimum=1)
# Biggest request body: refused from Content-Length before anything is read, and counted while a
# chunked body streams in (songforge/limits.py). Set the proxy's limit to the same figure.
MAX_REQUEST_BYTES = env_int("SONGFORGE_MAX_REQUEST_BYTES", UPLOAD_MAX_BYTES + 1024 * 1024, minimum=1024)
FILE_UPLOAD_HANDLERS = [
    "songforge.limits.CountingUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "songforge.limits.RequestBodyLimitMiddleware"
)
GENERATIONS_PER_DAY = env_int("SONGFORGE_GENERATIONS_PER_DAY", 5, minimum=1)  # per artist, any 24 hours
UPLOAD_REQUIRES_VERIFIED_EMAIL = env_bool("SONGFORGE_UPLOAD_REQUIRES_VERIFIED_EMAIL", True)

# --- security: cache, client addresses, logins --------------------------------
# A shared cache (Redis) when SONGFORGE_CACHE_URL is set: login rate limits and lockouts then hold
# across every web process. Without it, lockouts are kept in the database (axes) and allauth's
# rate limits per process.
CACHE_URL = env_str("SONGFORGE_CACHE_URL")
if CACHE_URL:
    if urlparse(CACHE_URL).scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured(f"SONGFORGE_CACHE_URL={CACHE_URL!r} must be a redis:// or rediss:// URL.")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# How many reverse proxies in front of the app append to X-Forwarded-For (0: use the socket address).
TRUSTED_PROXY_COUNT = env_int("SONGFORGE_TRUSTED_PROXY_COUNT", 0, minimum=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
INSTALLED_APPS.append("axes")
AUTHENTICATION_BACKENDS.insert(0, "axes.backends.AxesStandaloneBackend")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler" if CACHE_URL else "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("SONGFORGE_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = env_int("SONGFORGE_LOGIN_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address"]
AXES_CLIENT_IP_CALLABLE = "songforge.clientip.client_ip"
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "songforge.clientip.lockout_response"
AXES_VERBOSE = False
ACCOUNT_RATE_LIMITS = {"login_failed": env_str("SONGFORGE_ALLAUTH_LOGIN_RATE", "10/m/ip,5/5m/key")}

# --- security: HTTP headers and HTTPS -----------------------------------------------------------------
# Behind a TLS-terminating proxy set SONGFORGE_BEHIND_PROXY=1 (the proxy must set
# X-Forwarded-Proto and strip any client-sent copy), CSRF_TRUSTED_ORIGINS=https://songforge.example
# and ALLOWED_HOSTS=songforge.example. docs/security.md has the whole list.
# (SONGFORGE_BEHIND_PROXY=1 sets SECURE_PROXY_SSL_HEADER; see "production serving" below.)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and not TESTING:
    SECURE_SSL_REDIRECT = env_bool("SONGFORGE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SECURE_HSTS_SECONDS = env_int("SONGFORGE_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SONGFORGE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SONGFORGE_HSTS_PRELOAD", True)
    SESSION_COOKIE_HTTPONLY = True
# Content-Security-Policy (django-csp): our pages load scripts and styles from our own origin only;
# htmx is told not to inject its indicator <style> (templates/base.html, htmx-config meta).
_media_origins = [o for o in env_str("SONGFORGE_CSP_MEDIA_ORIGINS").split(",") if o]
if STORAGE_KIND == "s3" and STORAGES["default"]["OPTIONS"].get("endpoint_url"):
    _endpoint = urlparse(STORAGES["default"]["OPTIONS"]["endpoint_url"])
    _media_origins.append(f"{_endpoint.scheme}://{_endpoint.netloc}")
elif STORAGE_KIND == "s3":
    _media_origins.append("https://*.amazonaws.com")
INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", "https:", *_media_origins],
        "media-src": ["'self'", "blob:", *_media_origins],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- security: API tokens -----------------------------------------------------------------------
# Hashed, named, expiring tokens (apitokens/); DRF's plaintext authtoken table is only read once,
# by the migration that hashes its keys (apitokens/migrations/0002).
INSTALLED_APPS.append("apitokens")
API_TOKEN_DEFAULT_DAYS = env_int("SONGFORGE_TOKEN_DEFAULT_DAYS", 90, minimum=1)
API_TOKEN_MAX_DAYS = env_int("SONGFORGE_TOKEN_MAX_DAYS", 365, minimum=1)
API_TOKEN_MAX_PER_USER = env_int("SONGFORGE_TOKEN_MAX_PER_USER", 10, minimum=1)
API_TOKEN_MIGRATED_DAYS = env_int("SONGFORGE_TOKEN_MIGRATED_DAYS", 90, minimum=1)  # grace for pre-hash tokens
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "rest_framework.authentication.SessionAuthentication",  # first, as before: refusals stay 403
    "apitokens.authentication.ApiTokenAuthentication",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["songforge.throttling.TokenRateThrottle"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # type: ignore[dict-item]
    "token": env_str("SONGFORGE_TOKEN_RATE", "1000/hour"),
}

# --- native code cache ------------------------------------------------------
# numba's compiled-code cache (librosa's kernels) lives in the deployment's data dir, written by one
# process at a time: a cache shared through site-packages and written by parallel processes crashed
# workers with segmentation faults. See songforge/numba_cache.py.
NUMBA_CACHE_DIR = Path(env_str("NUMBA_CACHE_DIR", str(DATA_DIR / "numba-cache"))).resolve()
numba_cache.configure(NUMBA_CACHE_DIR)

# --- production serving and metrics -------------------------------------------
# WhiteNoise serves /static/ from the web process itself (gunicorn, see songforge/gunicorn.py).
# SONGFORGE_STATIC_MANIFEST=1 (set in the container image, after collectstatic) serves compressed
# files with hashed names and far-future caching; off, files are served as they are.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "whitenoise.middleware.WhiteNoiseMiddleware"
)
STATIC_ROOT = Path(env_str("SONGFORGE_STATIC_ROOT", str(STATIC_ROOT))).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATIC_MANIFEST = env_bool("SONGFORGE_STATIC_MANIFEST", False)
if STATIC_MANIFEST:
    STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (see docs/operations.md).
if env_bool("SONGFORGE_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True

# Prometheus (songforge/metrics.py): /metrics needs "Authorization: Bearer <token>" when a token is
# set, else it answers loopback only. Workers serve their job metrics on an internal port.
METRICS_TOKEN = env_str("SONGFORGE_METRICS_TOKEN")
METRICS_WORKER_ADDR = env_str("SONGFORGE_WORKER_METRICS_ADDR", "127.0.0.1")
METRICS_WORKER_PORT = env_int("SONGFORGE_WORKER_METRICS_PORT", 0, minimum=0)  # 0: no worker endpoint
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
DRAMATIQ_BROKER["MIDDLEWARE"] = [*DRAMATIQ_BROKER["MIDDLEWARE"], "songforge.metrics.JobMetricsMiddleware"]
