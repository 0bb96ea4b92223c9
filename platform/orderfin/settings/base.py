import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_list

BASE_DIR = Path(__file__).resolve().parents[3]
LOCAL_DIR = BASE_DIR / ".local"

DEBUG = env_bool("DEBUG", False)
# The test suite runs production settings (orderfin.settings.test) and brings its own key.
TESTING = os.environ.get("DJANGO_SETTINGS_MODULE", "").endswith(".test")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-key-for-development-and-tests-only-0123456789abcdefghij"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "django_celery_beat",
    "apps.core",
    "apps.accounts",
    "apps.merchants",
    "apps.partners",
    "apps.financing",
    "apps.ledger",
    "apps.repayments",
    "apps.collections",
    "apps.groups",
    "apps.notifications",
    "apps.eod",
    "apps.api",
    "apps.portal",
    "apps.backoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.api.middleware.ApiAwareCommonMiddleware",  # CommonMiddleware, no slash redirects under /api/
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orderfin.urls"
WSGI_APPLICATION = "orderfin.wsgi.application"

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
                "apps.ledger.context_processors.capital_breach",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/orderfin"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DATABASES["default"].setdefault("TEST", {})
# psycopg prepares statements only on cursors that bind on the server: apps.core.db.prepared_cursor, for the hot
# paths. Django's own cursors bind client-side and never prepare. Without a threshold psycopg prepares nothing.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
if os.environ.get("TEST_DB_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = os.environ["TEST_DB_NAME"]

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal:login"
# Failed-login lockout: this many failures in a row lock the account for the window.
LOGIN_LOCKOUT_THRESHOLD = int(os.environ.get("LOGIN_LOCKOUT_THRESHOLD", "5"))
LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15"))

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", LOCAL_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded KYC documents are private: never served from a public URL, only through
# views that check who is asking.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", LOCAL_DIR / "media"))
MEDIA_URL = "/private-media/"  # no route serves it
KYC_UPLOAD_MAX_BYTES = int(os.environ.get("KYC_UPLOAD_MAX_BYTES", str(5 * 1024 * 1024)))
SALES_CSV_MAX_BYTES = int(os.environ.get("SALES_CSV_MAX_BYTES", str(2 * 1024 * 1024)))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The lender whose portal this deployment serves (merchants who sign up join it).
PORTAL_LENDER_SLUG = os.environ.get("PORTAL_LENDER_SLUG", "orderfin")
DEFAULT_CURRENCY = "CNY"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "OrderFin <no-reply@orderfin.local>")
# SMS leaves through a pluggable backend: a class with send(to, body) (apps/notifications/sms.py).
SMS_BACKEND = os.environ.get("SMS_BACKEND", "apps.notifications.sms.ConsoleSmsBackend")

# End of day: loans per chunk (one Celery task and one transaction each) and the nightly cutoff (HH:MM, TIME_ZONE).
EOD_CHUNK_SIZE = int(os.environ.get("EOD_CHUNK_SIZE", "20000"))
EOD_CUTOFF = os.environ.get("EOD_CUTOFF", "23:30")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
