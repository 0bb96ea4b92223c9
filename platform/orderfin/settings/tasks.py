"""Celery: Redis broker, database-backed beat schedule."""

from .base import REDIS_URL, TIME_ZONE

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Static schedule; django-celery-beat copies it into its tables, where admins can tune it.
CELERY_BEAT_SCHEDULE = {
    "financing-offers-expire": {"task": "financing.offers_expire", "schedule": 300.0},
    # End of day will own this step; until then it runs hourly (it is idempotent).
    "repayments-margin-calls-enforce": {"task": "repayments.margin_calls_enforce", "schedule": 3600.0},
}
