"""Celery: Redis broker, database-backed beat schedule."""

import os

from celery.schedules import crontab

from .base import EOD_CUTOFF, REDIS_URL, TIME_ZONE

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TIMEZONE = TIME_ZONE
# One broker can serve several deployments (or a benchmark beside a running platform): each its own queue.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Static schedule; django-celery-beat copies it into its tables, where admins can tune it.
CELERY_BEAT_SCHEDULE = {
    "financing-offers-expire": {"task": "financing.offers_expire", "schedule": 300.0},
    # Catches up every missed business date through today, in order; resumes an interrupted run.
    "eod-nightly": {"task": "eod.catch_up", "schedule": crontab(hour=int(EOD_CUTOFF.split(":")[0]),
                                                                minute=int(EOD_CUTOFF.split(":")[1]))},
    "notifications-outbox-dispatch": {"task": "notifications.outbox_dispatch", "schedule": 60.0},
}
