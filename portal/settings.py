"""Stagegate settings: everything comes from environment variables with embedded defaults.

The defaults run the portal on a machine with nothing but Python (SQLite and a
file-based Celery broker under ``var/``); production sets ``DATABASE_URL``,
``CELERY_BROKER_URL`` and friends (see ``.env.example``).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    # Guessing at "yes" or "on" hides typos in production configuration.
    raise ImproperlyConfigured(f"{name} must be true/false or 1/0, not {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    """Turn ``sqlite:///path`` or ``postgres://user:pw@host:port/name`` into a DATABASES entry."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///relative.db is relative to the project; sqlite:////abs.db is absolute.
        name = path[1:] if path.startswith("//") else str(BASE_DIR / path.lstrip("/"))
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name,
            "OPTIONS": {
                # The web process and the worker share the file: wait for locks instead
                # of failing, and take the write lock up front so transactions do not
                # deadlock on lock upgrades.
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    if parts.scheme in ("postgres", "postgresql"):
        pooler = options.pop("pooler", "")
        if pooler not in ("", "session", "transaction"):
            raise ImproperlyConfigured("DATABASE_URL's pooler= is session or transaction")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": int(options.pop("conn_max_age", 60)),
            "CONN_HEALTH_CHECKS": True,
            # A pooler in transaction mode hands each transaction to any server
            # connection: a server-side cursor (QuerySet.iterator) would not outlive it.
            "DISABLE_SERVER_SIDE_CURSORS": pooler == "transaction",
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme {parts.scheme!r} is not supported")


def storage_from_url(url: str) -> dict:
    """The STORAGES entry for stored files: the local disk (MEDIA_ROOT) when ``url`` is
    empty, else S3-compatible object storage from
    ``s3://ACCESS:SECRET@host:port/bucket?region=...&secure=false&prefix=...``.

    Parts the URL leaves out come from the AWS_* variables django-storages documents
    (AWS_STORAGE_BUCKET_NAME, AWS_S3_ENDPOINT_URL, AWS_S3_REGION_NAME, AWS_LOCATION); keys
    left out of both are found by boto3 itself (AWS_ACCESS_KEY_ID, a profile, an instance
    role). Without a host the bucket is on AWS itself.
    """
    if not url:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ImproperlyConfigured(f"STORAGE_URL scheme {parts.scheme!r} is not supported (s3://)")
    query = dict(parse_qsl(parts.query))
    unknown = set(query) - {"region", "secure", "prefix", "expire"}
    if unknown:
        raise ImproperlyConfigured(f"STORAGE_URL has unknown options: {', '.join(sorted(unknown))}")
    secure = query.get("secure", "true").lower()
    if secure not in ("true", "false"):
        raise ImproperlyConfigured(f"STORAGE_URL secure= must be true or false, not {secure!r}")
    bucket = unquote(parts.path.strip("/")) or os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
    if not bucket or "/" in bucket:
        raise ImproperlyConfigured("STORAGE_URL must name one bucket: s3://host/bucket")
    endpoint = os.environ.get("AWS_S3_ENDPOINT_URL", "")
    if parts.hostname:
        scheme = "https" if secure == "true" else "http"
        port = f":{parts.port}" if parts.port else ""
        endpoint = f"{scheme}://{parts.hostname}{port}"
    expire = query.get("expire", "300")
    if not expire.isdigit() or not 0 < int(expire) <= 7 * 86400:
        raise ImproperlyConfigured(
            f"STORAGE_URL expire= must be seconds up to 7 days, not {expire!r}"
        )
    options = {
        "bucket_name": bucket,
        "region_name": query.get("region") or os.environ.get("AWS_S3_REGION_NAME") or None,
        "location": query.get("prefix", os.environ.get("AWS_LOCATION", "")).strip("/"),
        # Django's own storage never replaces a file under an existing name; nor may this.
        "file_overwrite": False,
        "default_acl": None,
        # Downloads answer a presigned URL that outlives the permission check only briefly.
        "querystring_auth": True,
        "querystring_expire": int(expire),
        "signature_version": "s3v4",
    }
    if parts.username:
        options["access_key"] = unquote(parts.username)
        options["secret_key"] = unquote(parts.password or "")
    if endpoint:
        options["endpoint_url"] = endpoint
        # A custom endpoint (SeaweedFS, MinIO, Ceph) rarely resolves bucket.host names.
        options["addressing_style"] = "path"
    # Bounded calls: an unreachable store fails a request in seconds, not minutes.
    from botocore.config import Config

    options["client_config"] = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 3},
        s3={"addressing_style": options.get("addressing_style", "auto")},
        signature_version="s3v4",
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


def load_secret_key() -> str:
    """Use SECRET_KEY from the environment, else one generated once into var/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = load_secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# Behind a TLS-terminating proxy in production; off for the local run command.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("SECURE_PROXY_SSL_HEADER", HTTPS):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Scripts and styles come only from our own static files: no inline code, no eval, so
# an injected <script> or on*= attribute does not run. Permissions-Policy is set by
# portal.middleware.PermissionsPolicyMiddleware.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the small icons Pico and Swagger UI embed in their CSS.
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "django_celery_beat",
    "axes",
    "portal",
    "projects",
    "audits",
    "deployments",
]

MIDDLEWARE = [
    "portal.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.ApplicationErrorMiddleware",
    "portal.middleware.DatabaseUnavailableMiddleware",
    # Last, as axes asks: it turns a refused log-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", f"sqlite:///{(VAR_DIR / 'stagegate.sqlite3').as_posix()}")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username and address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No shared "AnonymousUser" row that a stray grant could open projects to.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Brute-force protection on both login pages (django-axes). Failures count per username
# and client address together, so one person's guesses lock out neither another user
# nor the same user elsewhere. The counts live in the database, not the cache: logins
# must keep working, and keep counting, while Redis is down.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_RESET_ON_SUCCESS = True
# A lockout ends a fixed time after the failure that tripped it, so the page can say
# when; guesses made during it are refused without being counted.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "portal.accounts.lockout_response"
AXES_CLIENT_IP_CALLABLE = "portal.client_address.client_ip"
#: Proxies in front of the portal that each append the address they saw to
#: X-Forwarded-For. 0 (the default) uses REMOTE_ADDR and ignores the header, which any
#: client can write; behind one TLS proxy set 1, or every client shares its address.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGE_URL = env_str("STORAGE_URL", "")
#: How object storage serves downloads, after the permission check: "stream" through the
#: portal (browsers need not reach the bucket), or "redirect" to a presigned URL
#: that lives STORAGE_URL's expire= seconds (the bytes skip the web process).
STORAGE_DOWNLOADS = env_str("STORAGE_DOWNLOADS", "stream")
if STORAGE_DOWNLOADS not in ("stream", "redirect"):
    raise ImproperlyConfigured(
        f"STORAGE_DOWNLOADS must be stream or redirect, not {STORAGE_DOWNLOADS!r}"
    )
STORAGES = {
    "default": storage_from_url(STORAGE_URL),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)

DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 20
# Uploads stream to a temporary file next to the media root, so storing one is a rename.
FILE_UPLOAD_TEMP_DIR = Path(env_str("FILE_UPLOAD_TEMP_DIR", str(VAR_DIR / "uploads")))
FILE_UPLOAD_TEMP_DIR.mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_HANDLERS = ["portal.uploads.HashingUploadHandler"]
#: Largest dataset or predictions file accepted, in bytes.
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 2 << 30)
#: What an uploaded file may hold once read, checked while it streams: the bytes a gzip
#: file expands to (and a Parquet file decodes to), its rows, and one line of text (the
#: header too; also answered 400 at upload time). Past any of them the job fails at once.
UPLOAD_MAX_EXPANDED_BYTES = env_int("UPLOAD_MAX_EXPANDED_BYTES", 8 << 30)
UPLOAD_MAX_ROWS = env_int("UPLOAD_MAX_ROWS", 50_000_000)
UPLOAD_MAX_LINE_BYTES = env_int("UPLOAD_MAX_LINE_BYTES", 1 << 20)
#: With object storage, a dataset or predictions file streams to the bucket in parts of
#: this size (S3 takes at least 5 MiB a part, at most 10,000 parts); the web process holds
#: one part, never the whole file, and writes nothing to its disk.
STORAGE_UPLOAD_PART_BYTES = env_int("STORAGE_UPLOAD_PART_BYTES", 8 << 20, minimum=5 << 20)
if STORAGE_UPLOAD_PART_BYTES * 10_000 < UPLOAD_MAX_BYTES:
    raise ImproperlyConfigured(
        "STORAGE_UPLOAD_PART_BYTES is too small for UPLOAD_MAX_BYTES in 10,000 parts"
    )

# Live metrics for rollout analyses. A plan may name its own Prometheus only under one of
# these prefixes: the server must not be pointed at arbitrary hosts.
PROMETHEUS_URL = env_str("PROMETHEUS_URL", "")
PROMETHEUS_ALLOWED_URLS = env_list("PROMETHEUS_ALLOWED_URLS", "")
PROMETHEUS_TIMEOUT = env_float("PROMETHEUS_TIMEOUT", 5.0)
#: Alert webhooks: private, loopback and reserved addresses are refused unless allowed (an
#: internal receiver); each POST waits this long; a failed one is tried this many times in
#: all, the first retry after ALERT_RETRY_SECONDS and each later one after twice as long.
ALERT_WEBHOOK_ALLOW_PRIVATE = env_bool("ALERT_WEBHOOK_ALLOW_PRIVATE", False)
ALERT_WEBHOOK_TIMEOUT = env_float("ALERT_WEBHOOK_TIMEOUT", 5.0)
ALERT_DELIVERY_ATTEMPTS = env_int("ALERT_DELIVERY_ATTEMPTS", 5, minimum=1)
ALERT_RETRY_SECONDS = env_int("ALERT_RETRY_SECONDS", 30, minimum=1)
#: Points in one pushed batch, at most (a larger batch answers 413).
METRICS_MAX_BATCH = env_int("METRICS_MAX_BATCH", 10_000, minimum=1)
#: Pushed metric points are dropped a whole month at a time once the month ended this many
#: days ago (and its rollups are done); 0 keeps them all. Rollups are kept.
METRIC_POINT_RETENTION_DAYS = env_int("METRIC_POINT_RETENTION_DAYS", 0, minimum=0)
#: Trained baselines sample (stratified) down to this many rows.
BASELINE_ROW_CAP = env_int("BASELINE_ROW_CAP", 200_000)
#: Label classes below this share of rows are flagged rare.
PROFILE_RARE_CLASS_SHARE = env_float("PROFILE_RARE_CLASS_SHARE", 0.01)
#: Groups of a sensitive feature with fewer rows than this are flagged small.
PROFILE_SMALL_GROUP_SIZE = env_int("PROFILE_SMALL_GROUP_SIZE", 30)

#: How long a polled gate's answer may be kept: events move its key at once; this bounds
#: changes no event marks (a job's words while it runs). 0 computes every answer.
GATE_CACHE_SECONDS = env_int("GATE_CACHE_SECONDS", 60, minimum=0)
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # A cache that does not answer must not hold a request: throttles fail open.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        }
        if CACHE_URL.startswith(("redis://", "rediss://"))
        # Answers are kept per project (gates, sign-off states): room for a few thousand.
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        }
    )
}

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
# SMTP when EMAIL_BACKEND is django.core.mail.backends.smtp.EmailBackend.
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
#: Seconds an SMTP connection may take: a mail server that hangs must not hold a worker.
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "stagegate@localhost")
#: The portal's address, for links in emails and packs.
SITE_URL = env_str("SITE_URL", f"http://{env_str('HOST', '127.0.0.1')}:{env_str('PORT', '8000')}")
#: The key and certificate (PEM) the portal signs approval packs with (PAdES). Production
#: sets both; `make run` generates a self-signed pair here for local use
#: (`manage.py pack_signing_key`).
PACK_SIGNING_KEY = Path(env_str("PACK_SIGNING_KEY", str(VAR_DIR / "pack-signing" / "key.pem")))
PACK_SIGNING_CERT = Path(
    env_str("PACK_SIGNING_CERT", str(VAR_DIR / "pack-signing" / "certificate.pem"))
)
PACK_SIGNING_KEY_PASSPHRASE = env_str("PACK_SIGNING_KEY_PASSPHRASE", "")

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first so that unauthenticated calls answer 401, not 403.
        "portal.api.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's parsers, refusing lone surrogates, NUL characters and too-deep JSON with 400.
    "DEFAULT_PARSER_CLASSES": [
        "portal.api.parsers.JSONParser",
        "portal.api.parsers.FormParser",
        "portal.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # drf-spectacular's, declaring the errors each operation answers.
    "DEFAULT_SCHEMA_CLASS": "portal.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "portal.api.throttling.AnonThrottle",
        "portal.api.throttling.UserThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON", "60/minute"),
        "user": env_str("THROTTLE_USER", "2000/minute"),
        # Gate reads are counted apart: one CI user polls for hundreds of pipelines.
        "gate": env_str("THROTTLE_GATE", "6000/minute"),
        # Failed token lookups per client address; past it even a valid key answers 429.
        "invalid_token": env_str("THROTTLE_INVALID_TOKEN", "20/minute"),
    },
    # Throttles take the client address as login protection does (X-Forwarded-For only
    # behind trusted proxies); DRF's default would trust whatever header a client sends.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Stagegate API",
    "DESCRIPTION": (
        "Projects, gates, transitions, datasets, baselines, models, evaluations and the "
        "audit trail, for CI and scripts."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for people and pipelines that may use the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "portal.jobs.Job.Status",
        "DatasetStatusEnum": "projects.models.datasets.Dataset.Status",
        "TaskTypeEnum": "projects.models.teams.Project.TaskType",
        "BaselineTaskEnum": "audits.models.BaselineRun.Task",
        "MemberRoleEnum": "projects.models.teams.Role",
        "SignOffRoleEnum": "projects.models.criteria.SignOff.Role",
        "SignOffDecisionEnum": "projects.models.criteria.SignOff.Decision",
        "AuditReviewDecisionEnum": "audits.models.AuditReview.Decision",
        "AlertStateEnum": "deployments.models.Alert.State",
        "ReviewOutcomeEnum": "deployments.models.MonitoringReview.Outcome",
    },
}
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90)

# --- Celery ------------------------------------------------------------------
from portal import queues as job_queues  # noqa: E402 (kept with the settings it serves)

BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.5,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A task that outlives this is redelivered; the job lease makes that harmless.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "max_retries": 1,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# The limits of tasks no queue below names (Celery's own, say).
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)


def queue_limits(name: str, soft: int, memory_mb: int) -> job_queues.QueueLimits:
    """A queue's limits from CELERY_<QUEUE>_SOFT_TIME_LIMIT, CELERY_<QUEUE>_TIME_LIMIT (the
    soft limit plus a minute unless set) and CELERY_<QUEUE>_MAX_MEMORY_MB."""
    prefix = f"CELERY_{name.upper()}_"
    soft = env_int(prefix + "SOFT_TIME_LIMIT", soft, minimum=1)
    hard = env_int(prefix + "TIME_LIMIT", soft + 60, minimum=1)
    if hard <= soft:
        # The hard limit kills the process before the job can record why it stopped.
        raise ImproperlyConfigured(f"{prefix}TIME_LIMIT must exceed {prefix}SOFT_TIME_LIMIT")
    memory = env_int(prefix + "MAX_MEMORY_MB", memory_mb, minimum=64)
    return job_queues.QueueLimits(soft, hard, memory)


#: Each job class's queue and its limits (portal/queues.py says which task goes where).
JOB_QUEUES = {
    name: queue_limits(name, soft, memory)
    for name, (soft, memory) in job_queues.DEFAULT_LIMITS.items()
}
CELERY_TASK_DEFAULT_QUEUE = job_queues.DEFAULT_QUEUE
CELERY_TASK_QUEUES = job_queues.task_queues()
# A misspelt `-Q` stops the worker instead of making a queue nothing is sent to.
CELERY_TASK_CREATE_MISSING_QUEUES = False
CELERY_TASK_ROUTES = job_queues.task_routes()
CELERY_TASK_ANNOTATIONS = job_queues.task_annotations(JOB_QUEUES)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must never hang a request: fail fast and let the sweeper republish.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TIMEZONE = "UTC"
# Workers log through LOGGING below, so their lines are JSON with the rest.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# django-celery-beat's scheduler, sending only while it holds the beat lease: a second
# beat stands by, and takes over within BEAT_LEASE_SECONDS of the first one's death.
CELERY_BEAT_SCHEDULER = "portal.beat:SingleBeatScheduler"
BEAT_LEASE_SECONDS = env_int("BEAT_LEASE_SECONDS", 30, minimum=3)
JOB_SWEEP_SECONDS = env_int("JOB_SWEEP_SECONDS", 30)
#: How often every audit-trail chain's head is anchored in the portal chain.
EVENT_CHECKPOINT_SECONDS = env_int("EVENT_CHECKPOINT_SECONDS", 3600)
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {
        "task": "portal.jobs_sweep",
        "schedule": timedelta(seconds=JOB_SWEEP_SECONDS),
    },
    "events-checkpoint": {
        "task": "projects.events_checkpoint",
        "schedule": timedelta(seconds=EVENT_CHECKPOINT_SECONDS),
    },
    "alert-deliveries-sweep": {
        "task": "deployments.alert_deliveries_sweep",
        "schedule": timedelta(seconds=60),
    },
    # Drift checks at each monitoring spec's cadence (in days): an hourly look is enough.
    "drift-checks-schedule": {
        "task": "deployments.drift_checks_schedule",
        "schedule": timedelta(hours=1),
    },
    # The monitoring spec's metric and silence alerts: their windows end at each minute.
    "alert-rules-evaluate": {
        "task": "deployments.alert_rules_evaluate",
        "schedule": timedelta(seconds=60),
    },
    # Exceptions about to expire are reminded, and expired ones recorded, within the hour.
    "exceptions-remind": {
        "task": "audits.exceptions_remind",
        "schedule": timedelta(hours=1),
    },
    # What uploads streaming to object storage left when their web process died.
    "incoming-sweep": {
        "task": "portal.incoming_sweep",
        "schedule": timedelta(hours=6),
    },
    # Rollups a push could not ask for (the broker was down) are made up within a minute.
    "rollups-sweep": {
        "task": "deployments.rollups_sweep",
        "schedule": timedelta(seconds=60),
    },
    # Next months' metric point partitions made ahead; months past retention dropped.
    "metric-points-upkeep": {
        "task": "deployments.metric_points_upkeep",
        "schedule": timedelta(hours=1),
    },
}
#: Signing, approving, reviewing and exceptions need the password entered this recently.
SUDO_SECONDS = env_int("SUDO_SECONDS", 15 * 60)
#: The longest an exception may be granted for, and how long before its expiry its owner
#: and the person who granted it are reminded.
EXCEPTION_MAX_DAYS = env_int("EXCEPTION_MAX_DAYS", 365)
EXCEPTION_REMIND_DAYS = env_int("EXCEPTION_REMIND_DAYS", 14)
# A job is republished when its row stays queued, or running without a heartbeat,
# for this long; one that has been delivered this many times is failed.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 120)
#: A running delivery's heartbeat, kept by a thread of the worker process: four missed
#: beats (and at least JOB_STALE_SECONDS) hand its job on.
JOB_PULSE_SECONDS = env_int("JOB_PULSE_SECONDS", 15, minimum=1)
JOB_MAX_DELIVERIES = env_int("JOB_MAX_DELIVERIES", 3)

# --- Logging -----------------------------------------------------------------
#: "json" (one object a line, for log collectors) or "plain" (for a terminal).
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "portal.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "portal.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # PDF layout logs every font subset and CSS guess; only problems matter here.
        "fontTools": {"level": "WARNING"},
        "weasyprint": {"level": "ERROR"},
        # axes announces itself on every start, management commands included.
        "axes.apps": {"level": "WARNING"},
        # pikepdf announces its logging bridge on first use.
        "pikepdf": {"level": "WARNING"},
    },
}
