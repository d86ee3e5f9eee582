"""Settings for the Linfen livestream tracker, read from the environment.

Everything an operator may change is an environment variable (see README's configuration
table). Unset, the app runs on a SQLite file with Celery tasks in-process, so `make run`
needs no services.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Good for development (DEBUG=1) and nothing else.
DEVELOPMENT_SECRET_KEY = "django-insecure-linfen-tracker-development-only-key"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Read directly: django-environ takes a value starting with "$" as the name of another
# variable, and a generated secret may well start with one.
SECRET_KEY = os.environ.get("SECRET_KEY") or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    # Sessions, CSRF tokens and other signed values made with a key anyone can read in this
    # file could be forged: without DEBUG, refuse to start rather than run on it.
    raise ImproperlyConfigured(
        "SECRET_KEY is not set (or is the development key). Set it in the environment to "
        "a long random value, e.g. the output of: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))' "
        "(docker compose: in .env). For development only, set DEBUG=1 instead."
    )
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "sessions_app",
    "rankings",
    "notifications",
    "linfen_tracker",  # no models: the auth generation's signal receivers (apps.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Around everything that may read: sends a page's reads to the replica, pins writers.
    "linfen_tracker.db_router.ReplicaReadMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "linfen_tracker.middleware.DatabaseUnavailableMiddleware",
    # Last, so that it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "linfen_tracker.urls"
WSGI_APPLICATION = "linfen_tracker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.context_processors.unread_notifications",
                "linfen_tracker.db_router.replica_notice",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Readers don't block the writer; a writer takes its lock when it begins, so no
        # transaction has to upgrade (which fails at once with "database is locked").
        "init_command": "PRAGMA journal_mode=WAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # A connection per request costs about two thirds of the throughput (pitfalls.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A PostgreSQL streaming replica (hot standby) for the pages' and the API's reads
# (linfen_tracker/db_router.py): dashboards, boards, lists and API GETs read it; writes, forms,
# the admin, tasks and commands use `default`. Unset: everything reads `default`.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"].get("CONN_MAX_AGE", 0)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # A replica that does not answer must not hold a request for long: reads fall back.
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
    # Tests read the test database of `default` (a hot standby cannot create one).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["linfen_tracker.db_router.ReplicaRouter"]
# Reads go to the primary instead when the replica has not replayed what the primary
# committed this many seconds ago (or does not answer); its state is checked at most once
# every REPLICA_CHECK_SECONDS per process.
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=5.0)
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=1.0)
# After a write, the writer (cookie, or the API token) and every cache filled from what the
# write changed read the primary for this long: longer than the lag the replica may have.
REPLICA_PIN_SECONDS = REPLICA_MAX_LAG_SECONDS + REPLICA_CHECK_SECONDS + 2
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Redis down (or slow beyond a second) is a cache miss, logged, not a failed request: pages
# and the API read PostgreSQL, throttles let requests through (linfen_tracker/throttling.py).
REDIS_CACHE_OPTIONS = {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 1,
                       "SOCKET_TIMEOUT": 1}
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
if REDIS_URL:
    # django-redis rather than Django's own Redis backend: Django's builds a new redis-py
    # client for every command (about 0.2 ms of Python each, bench/api.py); this one keeps it.
    CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": REDIS_CACHE_OPTIONS}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Each process's own copies of the API's hot reads (token users, leaderboards), valid while
# their generation in `default` stands (linfen_tracker/generations.py). The timeout bounds
# how long a copy can outlive a write that bypassed the bumps (raw SQL). Without REDIS_URL
# the generations are per process, so a write in one process would not reach the copies
# of another: off (0) unless set, which is safe only when one process serves everything.
CACHES["local"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "linfen-local",
    # One entry per active token and per distinct leaderboard query (up to ~300 KB for a
    # board of 1,000): past this, a third is dropped and read again from the database.
    "OPTIONS": {"MAX_ENTRIES": 2_000},
}
LOCAL_CACHE_SECONDS = env.int("LOCAL_CACHE_SECONDS", default=60 if REDIS_URL else 0)

# --- Auth -----------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # axes first: it refuses a locked-out username before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# A username from one address, and an address whatever the usernames, each with its own
# limit (linfen_tracker/lockout.py); the address is the client's behind TRUSTED_PROXY_COUNT
# proxies.
AXES_HANDLER = "linfen_tracker.lockout.UserAndAddressLockoutHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_ADDRESS_FAILURE_LIMIT = env.int("AXES_ADDRESS_FAILURE_LIMIT", default=50)
AXES_CLIENT_IP_CALLABLE = "linfen_tracker.throttling.client_address"
# Without a cool-off a lockout never expires (pitfalls.md).
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"

# API tokens stop working this many days after they were issued (POST auth/token/ then
# gives a new one); DELETE auth/token/ revokes one at once.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=30)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# locale_vendor/: zh_Hans for django-filter, which ships only zh_CN (pitfalls.md);
# makemessages does not manage it.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_vendor"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
WHITENOISE_MANIFEST_STRICT = False

# --- Uploads --------------------------------------------------------------------------------
# Spreadsheets larger than this are refused before parsing (10,000 rows are about 1 MB).
IMPORT_MAX_UPLOAD_BYTES = env.int("IMPORT_MAX_UPLOAD_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_UPLOAD_BYTES + 1024 * 1024

# --- Evidence files (sessions_app/evidence/) ------------------------------------------------
# Files behind the figures (platform exports, screenshots). Django's default storage holds
# them: a local directory, or S3-compatible object storage with EVIDENCE_STORAGE=s3. They are
# served only by views that check the user may see the session: MEDIA_URL stays empty and no
# URL serves MEDIA_ROOT, which lies outside the static files.
EVIDENCE_MAX_UPLOAD_BYTES = env.int("EVIDENCE_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = ""
EVIDENCE_STORAGE = env.str("EVIDENCE_STORAGE", default="local")
if EVIDENCE_STORAGE == "s3":
    _s3_endpoint = env.str("AWS_S3_ENDPOINT_URL", default="") or None
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": _s3_endpoint,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            # Read directly, like SECRET_KEY: a secret may start with "$".
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "location": env.str("AWS_LOCATION", default=""),
            # Objects are private; the views stream them to users who may see them.
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
            # Self-hosted S3-compatible servers (MinIO, Ceph) want path-style URLs.
            "addressing_style": env.str(
                "AWS_S3_ADDRESSING_STYLE", default="path" if _s3_endpoint else ""
            ) or None,
            "signature_version": "s3v4",
            # Reading an object spools it through memory up to this size, then a temporary
            # file (the default 0 would keep a whole 10 MB file in memory).
            "max_memory_size": 1024 * 1024,
        },
    }
elif EVIDENCE_STORAGE != "local":
    raise ImproperlyConfigured(
        f"EVIDENCE_STORAGE must be 'local' or 's3', not {EVIDENCE_STORAGE!r}"
    )


# --- Security (production) ------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers and compose probe the health check over plain HTTP on the host itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# The preload list is for public domains; an intranet host cannot be on it, and opting in
# is a commitment an operator makes with SECURE_HSTS_PRELOAD=1, not a default.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies that append to X-Forwarded-For stand in front of the app (nginx: 1).
# 0: the connecting address is the client's, and X-Forwarded-For is ignored. Throttles and
# the login lockout key on this address (linfen_tracker.throttling.client_address).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Every script is a file of ours: no inline script or event handler runs, wherever it came
# from. Styles may be inline: Plotly sets them on what it draws, and Swagger UI's page has a
# <style> block. Images may be data: URLs (the pages' empty favicon, Swagger UI's icons).
# Nothing may frame the site, and forms post only to it. tests/browser fail on any violation.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its `WWW-Authenticate` header is what turns "not logged in" into 401
    # rather than 403. The token's user is cached per process (linfen_tracker/authentication.py).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "linfen_tracker.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Model permissions decide, never group names; reading needs view_<model>.
    "DEFAULT_PERMISSION_CLASSES": ["linfen_tracker.permissions.ModelRolePermissions"],
    "DEFAULT_PAGINATION_CLASS": "linfen_tracker.api.DescribedPageNumberPagination",
    # DRF's negotiation, remembered per process (linfen_tracker/negotiation.py).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS":
        "linfen_tracker.negotiation.RememberedContentNegotiation",
    "EXCEPTION_HANDLER": "linfen_tracker.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "linfen_tracker.parsers.NestingSafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Throttling shares load fairly; brute force is stopped by django-axes, not by this.
    "DEFAULT_THROTTLE_CLASSES": [
        "linfen_tracker.throttling.AnonFixedWindowThrottle",
        "linfen_tracker.throttling.UserFixedWindowThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON", default="60/minute"),
        "user": env.str("THROTTLE_USER", default="6000/minute"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    # Unset, DRF would key anonymous throttles on the whole X-Forwarded-For, which a client
    # writes as it likes.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Linfen livestream tracker API",
    "DESCRIPTION": "Officials' livestream sales sessions and holiday rankings.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from our own static files: the intranet has no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Counties, evidence files and notifications each have a `kind`.
    "ENUM_NAME_OVERRIDES": {
        "KindEnum": "sessions_app.models.County.Kind",
        "EvidenceKindEnum": "sessions_app.models.SessionEvidence.Kind",
        "RankingBasisEnum": "sessions_app.models.RankingBasis",
        "NotificationKindEnum": "notifications.models.Kind",
        # Callables, read per language at schema time: the registry of metrics
        # (rankings/metrics.py) names both sets; boards also take the composite score.
        "RankingMetricEnum": "rankings.metrics.ranked_metric_choices",
        "MetricEnum": "rankings.metrics.metric_keys",
    },
}

# --- Celery ---------------------------------------------------------------------------------
# No broker: tasks run in-process so the embedded default works without services.
CELERY_TASK_ALWAYS_EAGER = not env.str("CELERY_BROKER_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# A save must not hang when the broker is down: fail fast, the database keeps the stale mark
# and beat catches up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_connections": 20,
    "retry_on_timeout": False,
}
# /healthz asks the broker at most once per this many seconds per process (0: every time).
HEALTHZ_BROKER_CHECK_SECONDS = env.float("HEALTHZ_BROKER_CHECK_SECONDS", default=1.0)
CELERY_BEAT_SCHEDULE = {
    "recompute-stale-and-ongoing-holidays": {
        "task": "rankings.tasks.recompute_due_holidays",
        "schedule": env.int("RANKINGS_BEAT_SECONDS", default=120),
    },
    # The from-scratch check of the incremental totals (reports and repairs differences).
    "reconcile-holiday-totals": {
        "task": "rankings.tasks.reconcile_totals",
        "schedule": crontab(hour=env.int("TOTALS_RECONCILE_HOUR", default=3), minute=17),
    },
}
# Boards are live (read from the totals each write keeps); snapshots, which give the
# movement arrows, notifications and targets, follow a write after this many seconds, so a
# busy evening makes one snapshot per holiday per interval, not one per write.
RANKINGS_SNAPSHOT_DELAY_SECONDS = env.int("RANKINGS_SNAPSHOT_DELAY_SECONDS", default=10)
# The most of one worker's time the snapshots of one holiday take while writes keep coming:
# after a snapshot of S seconds, the next waits at least S x (1 - share) / share (a 22 s
# snapshot of a holiday of 4,000,000 sessions: 66 s at 0.25), so a big holiday's snapshots
# do not keep a CPU busy. 1 turns it off.
RANKINGS_SNAPSHOT_MAX_SHARE = env.float("RANKINGS_SNAPSHOT_MAX_SHARE", default=0.25)
# PostgreSQL parallel workers a worker's snapshot may use for its aggregation (a recompute
# by hand uses the server's own max_parallel_workers_per_gather). 0 leaves the other CPUs
# to the writers' saves; raise it on a database server with CPUs to spare.
RANKINGS_BACKGROUND_PARALLEL_WORKERS = env.int("RANKINGS_BACKGROUND_PARALLEL_WORKERS",
                                               default=0)

# --- Notifications (email digests, webhooks) -------------------------------------------------
# EMAIL_URL as django-environ reads it: smtp://user:password@host:25, smtp+tls://...:587,
# smtp+ssl://...:465; unset: the console backend (make run prints emails).
globals().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL") or "linfen-rankings@localhost"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The site's address as users reach it, for links in emails and robot messages.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")
# At most one digest email per user per this many minutes; what arrives meanwhile waits
# for the next one.
NOTIFY_EMAIL_MIN_MINUTES = env.int("NOTIFY_EMAIL_MIN_MINUTES", default=30)
# Webhook receivers on private or loopback addresses (the city's intranet, tests).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
# Backoff between attempts: base x 2^n seconds, at most the maximum, which must stay below
# the Redis broker's visibility timeout (1 h): a longer countdown would run again and again.
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=10.0)
WEBHOOK_RETRY_MAX_SECONDS = min(env.float("WEBHOOK_RETRY_MAX_SECONDS", default=600.0), 3000.0)
CELERY_BEAT_SCHEDULE["notifications-sweep"] = {
    "task": "notifications.tasks.notifications_sweep",
    "schedule": env.int("NOTIFY_SWEEP_SECONDS", default=60),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # axes logs every successful login at INFO; lockouts are warnings.
    "loggers": {"axes": {"level": "WARNING"}},
}
