"""ClinicOps settings, read from the environment.

Defaults are safe for production (DEBUG off, secure cookies, HSTS); development turns them
down explicitly with DJANGO_DEBUG=1, which `make run` and `make test` set.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from redis.backoff import NoBackoff
from redis.retry import Retry

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"  # noqa: S105

# The audit chain's HMAC key. Kept out of the database on purpose: someone who can write the
# audit table must not also be able to recompute the chain.
AUDIT_HMAC_KEY = os.environ.get("AUDIT_HMAC_KEY", "")
if not AUDIT_HMAC_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("AUDIT_HMAC_KEY must be set when DJANGO_DEBUG is off.")
    AUDIT_HMAC_KEY = "dev-only-audit-key"
# Key rotation (docs/decisions/0002, and the sealer's note): every key the chain was ever signed
# with, as JSON {"key id": "key"}; unset, the one AUDIT_HMAC_KEY under the id "k0". New events
# are sealed with AUDIT_HMAC_KEY_ID; changing it makes the sealer append a rotation event.
AUDIT_HMAC_KEYRING: dict[str, str] = json.loads(os.environ.get("AUDIT_HMAC_KEYRING", "") or "{}")
AUDIT_HMAC_KEY_ID = os.environ.get("AUDIT_HMAC_KEY_ID", "")
AUDIT_HMAC_LEGACY_KEY_ID = "k0"
# The external witness: the signed chain head is appended here hourly (make it append-only).
AUDIT_WITNESS_PATH = os.environ.get(
    "AUDIT_WITNESS_PATH", str(BASE_DIR / "var" / "audit-witness.log")
)
# An event unsealed for longer than this is reported by the verifier (the sealer is stalled).
AUDIT_SEAL_MAX_LAG_SECONDS = env_int("AUDIT_SEAL_MAX_LAG_SECONDS", 120)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "axes",
    "clinicops.audit",
    "clinicops.core",
    "compliance",
    "scheduling",
    "patientflow",
    "supplies",
    "revenue",
    "workforce",
    "clinicops.kpis",
    "clinicops.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "clinicops.core.middleware.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "clinicops.audit.audit.AuditContextMiddleware",
    "clinicops.core.middleware.SessionTimeoutMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "clinicops.core.middleware.CurrentClinicMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Axes last, as its documentation asks, so it sees the final response of a login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clinicops.urls"
WSGI_APPLICATION = "clinicops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # The date, time and money filters every page uses (|day, |clock, |money ...).
            "builtins": ["clinicops.core.templatetags.formats"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinicops.core.context_processors.clinic",
                "compliance.context_processors.break_glass",
            ],
        },
    }
]

# Django's widgets written in Python instead of the template language (same markup): a page's
# form fields were a fifth to a third of its time (clinicops/core/formrender.py).
FORM_RENDERER = "clinicops.core.formrender.FastWidgetRenderer"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clinicops"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
    "DATABASE_TEST_NAME", "test_clinicops"
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "core.User"
# The model whose rows the audit trail files events under by patient (clinicops.audit imports
# no app of ours, so it is told which one, as Django is told the user model).
AUDIT_PATIENT_MODEL = "core.Patient"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend reading permissions and role names in one query (clinicops.core.backends).
    "clinicops.core.backends.OneQueryModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Failed-login lockout: 5 failures for one username from one IP locks that pair for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client's address: how many reverse proxies in front of the app append to
# X-Forwarded-For (0 = none, the header is ignored). One setting for the audit trail's IP and
# the lockout alike (clinicops.audit.audit.client_ip). AXES_PROXY_COUNT is its former name.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", env_int("AXES_PROXY_COUNT", 0))
AXES_CLIENT_IP_CALLABLE = "clinicops.audit.audit.client_ip"
AXES_VERBOSE = False

# Sessions: an idle timeout (a workstation left logged in) and an absolute lifetime (a shift).
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 15 * 60)
SESSION_ABSOLUTE_LIFETIME = env_int("SESSION_ABSOLUTE_LIFETIME", 12 * 60 * 60)
# The last-activity time is written at most this often (seconds): a click within it writes no
# session; the idle logout comes at most this much before SESSION_IDLE_TIMEOUT, never after.
SESSION_ACTIVITY_RESOLUTION = env_int("SESSION_ACTIVITY_RESOLUTION", 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_LIFETIME
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Security headers; development relaxes only what plain HTTP on localhost needs.
SECURE = not DEBUG and env_bool("DJANGO_SECURE", default=True)
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_SSL_REDIRECT = SECURE and env_bool("DJANGO_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE else None
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000) if SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Browser features no page uses, switched off for every origin (the supplies tablet scans with
# a keyboard-wedge scanner, not the camera). An empty list is "()": nobody.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}

# Content Security Policy: our own origin only; scripts need our nonce. No unsafe-inline,
# no unsafe-eval: htmx is configured (templates/base.html) not to inject styles or eval.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# In development whitenoise serves straight from the app and static directories.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "clinicops"),
        # Redis down must make a page slower, not hang it: a connect or a reply that takes
        # longer than this fails at once (redis-py's default is 3 retries with backoff, up to
        # 4 timeouts per call), and pages fall back (clinicops.core.softcache).
        "OPTIONS": {
            "socket_connect_timeout": float(os.environ.get("REDIS_CACHE_TIMEOUT", "0.5")),
            "socket_timeout": float(os.environ.get("REDIS_CACHE_TIMEOUT", "0.5")),
            "retry": Retry(NoBackoff(), 0),
        },
    }
}
# Nothing a request needs lives only in Redis: sessions and failed-login counts are in Postgres,
# so Redis down logs nobody out and keeps the lockout working (docs/decisions/0012-redis-down.md).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"


def celery_redis_url(url: str) -> str:
    """Celery spells redis-py's unix:///path?db=N socket URL redis+socket:///path?virtual_host=N."""
    parts = urlsplit(url)
    if parts.scheme != "unix":
        return url
    db = parse_qs(parts.query).get("db", ["0"])[0]
    return f"redis+socket://{parts.path}?virtual_host={db}"


CELERY_BROKER_URL = celery_redis_url(REDIS_URL)
CELERY_RESULT_BACKEND = celery_redis_url(REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis hands a task delivered but not acknowledged (its worker was SIGKILLed, or the machine
# died) to another worker after the visibility timeout (kombu's default: an hour). It must be
# longer than the longest task runs, or a slow task is run twice at once: so every task has a
# hard time limit below it (the KPI rollups set tighter ones of their own).
BROKER_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 900)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 840)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 780)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "verify-audit-chain": {
        "task": "compliance.tasks.verify_audit_chain",
        "schedule": timedelta(hours=1),
    },
    # The audit sealer: chains committed events every few seconds (one at a time: a lock).
    "audit-seal": {
        "task": "audit.tasks.seal_audit_trail",
        "schedule": timedelta(seconds=3),
        "options": {"expires": 3},
    },
    "audit-witness-file": {
        "task": "audit.tasks.publish_audit_witness",
        "schedule": crontab(minute=30),
    },
    "audit-witness-email": {
        "task": "audit.tasks.publish_audit_witness",
        "schedule": crontab(hour=6, minute=45),
        "kwargs": {"email": True},
    },
    # Hourly on the hour (a crontab: an interval drifts); it enqueues supplies' nightly work
    # (reorder suggestions, expiry alerts) for each clinic whose local
    # SUPPLIES_NIGHTLY_LOCAL_HOUR has come.
    "supplies-nightly-dispatch": {
        "task": "supplies.tasks.dispatch_nightly",
        "schedule": crontab(minute=0),
    },
    "scheduling-send-reminders": {
        "task": "scheduling.tasks.send_reminders",
        "schedule": timedelta(minutes=10),
    },
    "scheduling-mark-no-shows": {
        "task": "scheduling.tasks.mark_no_shows",
        "schedule": timedelta(minutes=5),
    },
    # Hourly at :05 (a crontab, not an interval that could drift across an hour boundary); it
    # fans out the KPI rollup of each clinic whose local KPI_ROLLUP_LOCAL_HOUR has come.
    "kpis-nightly-dispatch": {
        "task": "clinicops.kpis.tasks.dispatch_nightly_rollups",
        "schedule": crontab(minute=5),
    },
    # Hourly at :10; it enqueues the weekly digest of each clinic where it is Monday
    # KPI_DIGEST_LOCAL_HOUR o'clock.
    "kpis-weekly-digest-dispatch": {
        "task": "clinicops.kpis.tasks.dispatch_weekly_digests",
        "schedule": crontab(minute=10),
    },
    # Hourly at :20; it enqueues the overdue corrective-action alerts of each clinic where it
    # is INCIDENT_ALERT_LOCAL_HOUR o'clock (each action alerted once per overdue spell).
    "incident-overdue-dispatch": {
        "task": "compliance.tasks.dispatch_overdue_alerts",
        "schedule": crontab(minute=20),
    },
    # Daily at 11:20 UTC (morning in the US): credential expiry alerts at 60, 30 and 7 days;
    # each is recorded, so a re-run or a second beat sends nothing twice.
    "workforce-credential-alerts": {
        "task": "workforce.tasks.send_credential_alerts",
        "schedule": crontab(hour=11, minute=20),
    },
    # Hourly at :20; it enqueues yesterday's anomaly hints of each clinic whose local
    # ANOMALY_LOCAL_HOUR has come (clinicops.core.nightly's DST-proof rule).
    "compliance-anomaly-dispatch": {
        "task": "compliance.tasks.dispatch_anomaly_hints",
        "schedule": crontab(minute=20),
    },
    # Hourly at :25; starts this quarter's access review of each clinic that has none yet
    # (by the clinic's local date, so a DST night or a missed beat only delays it).
    "compliance-quarterly-access-review": {
        "task": "compliance.tasks.start_quarterly_access_reviews",
        "schedule": crontab(minute=25),
    },
    # Mondays 07:30 UTC: each owner of open denials gets their list, overdue first.
    "revenue-denial-digest": {
        "task": "revenue.tasks.send_denial_digest",
        "schedule": crontab(day_of_week="mon", hour=7, minute=30),
    },
    # Every 10 minutes: queue pyx12's check of each 837P batch whose check was never queued
    # (the broker was down when it was exported) or was lost (revenue.services.batch_check).
    "revenue-batch-check-sweep": {
        "task": "revenue.tasks.requeue_unchecked_batches",
        "schedule": timedelta(minutes=10),
        "options": {"expires": 600},
    },
}
# Break-glass: the roles that may open another clinic's patient with a stated reason, and for
# how long each use lasts.
BREAK_GLASS_ROLES = tuple(
    role.strip()
    for role in os.environ.get("BREAK_GLASS_ROLES", "Provider,Nurse / medical assistant").split(",")
    if role.strip()
)
BREAK_GLASS_MINUTES = env_int("BREAK_GLASS_MINUTES", 60)
# Access review: accounts not used for this many days are flagged.
ACCESS_REVIEW_DORMANT_DAYS = env_int("ACCESS_REVIEW_DORMANT_DAYS", 90)
# Anomaly hints (compliance/anomalies.py): computed at this local hour for yesterday.
ANOMALY_LOCAL_HOUR = env_int("ANOMALY_LOCAL_HOUR", 3)
ANOMALY_VOLUME_MIN = env_int("ANOMALY_VOLUME_MIN", 20)
ANOMALY_VOLUME_FACTOR = env_int("ANOMALY_VOLUME_FACTOR", 3)
ANOMALY_BASELINE_DAYS = env_int("ANOMALY_BASELINE_DAYS", 28)
ANOMALY_BASELINE_MIN_DAYS = env_int("ANOMALY_BASELINE_MIN_DAYS", 5)
ANOMALY_GRACE_MINUTES = env_int("ANOMALY_GRACE_MINUTES", 30)
# KPI rollup: the local hour it runs at, and how many days before yesterday it re-rolls to
# pick up late data.
KPI_ROLLUP_LOCAL_HOUR = env_int("KPI_ROLLUP_LOCAL_HOUR", 2)
KPI_TRAILING_DAYS = env_int("KPI_TRAILING_DAYS", 7)
# Each night also re-rolls any of the last this-many days missing a metric's row (a rollup
# lost with a killed worker), besides every older day whose data changed since its rollup.
KPI_COMPLETENESS_DAYS = env_int("KPI_COMPLETENESS_DAYS", 92)
# The weekly KPI digest goes out on Mondays at this local hour.
KPI_DIGEST_LOCAL_HOUR = env_int("KPI_DIGEST_LOCAL_HOUR", 7)
# Overdue corrective actions are alerted at this local hour (owner and compliance officers).
INCIDENT_ALERT_LOCAL_HOUR = env_int("INCIDENT_ALERT_LOCAL_HOUR", 7)

# Supplies: the largest quantity one log may use (an item may set its own), and how long
# the nurse who logged it may undo a log.
SUPPLIES_MAX_USE_QUANTITY = env_int("SUPPLIES_MAX_USE_QUANTITY", 50)
SUPPLIES_UNDO_SECONDS = env_int("SUPPLIES_UNDO_SECONDS", 120)
# An hour before the KPI rollup (KPI_ROLLUP_LOCAL_HOUR), so the day's stockout snapshot exists
# before the rollup reads it (a snapshot that lands later still marks the day for re-roll).
SUPPLIES_NIGHTLY_LOCAL_HOUR = env_int("SUPPLIES_NIGHTLY_LOCAL_HOUR", 1)

# Django 6.1's MAILERS. Development prints mail to the console; production speaks SMTP.
MAILERS = {
    "default": {
        "BACKEND": os.environ.get(
            "EMAIL_BACKEND",
            "django.core.mail.backends.console.EmailBackend"
            if DEBUG
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
        "OPTIONS": (
            {
                "host": os.environ.get("EMAIL_HOST", "localhost"),
                "port": env_int("EMAIL_PORT", 25),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", default=False),
            }
            if os.environ.get("EMAIL_BACKEND", "smtp").endswith(("smtp", "smtp.EmailBackend"))
            and not DEBUG
            else {}
        ),
    }
}
# Absolute links in emails (the reminder's confirm link) start with this.
SITE_URL = os.environ.get("SITE_URL", "http://localhost:8000")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ClinicOps <no-reply@clinicops.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
