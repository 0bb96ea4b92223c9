"""Sending the outbox: each message in its own short transaction, retried with exponential backoff."""

import datetime

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from .models import Channel, OutboxMessage, OutboxState
from .sms import sms_backend

MAX_ATTEMPTS = 8
BATCH = 200


def _deliver(message: OutboxMessage) -> None:
    if message.channel == Channel.EMAIL:
        send_mail(message.subject, message.body, settings.DEFAULT_FROM_EMAIL, [message.recipient], fail_silently=False)
    else:
        sms_backend().send(message.recipient, f"{message.subject}: {message.body}")


def outbox_send_one() -> bool:
    """Send the oldest due message (rows locked SKIP LOCKED, so workers never send the same one); False if none."""
    with transaction.atomic():
        message = (OutboxMessage.objects.select_for_update(skip_locked=True)
                   .filter(state=OutboxState.PENDING, next_attempt_at__lte=timezone.now()).order_by("next_attempt_at", "id")
                   .first())
        if message is None:
            return False
        message.attempts += 1
        try:
            _deliver(message)
        except Exception as exc:  # noqa: BLE001 — any backend failure: keep the message, try again later
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.state = OutboxState.FAILED
            else:  # 1, 2, 4, 8 … minutes
                message.next_attempt_at = timezone.now() + datetime.timedelta(minutes=2 ** (message.attempts - 1))
        else:
            message.state, message.sent_at, message.last_error = OutboxState.SENT, timezone.now(), ""
        message.save(update_fields=["attempts", "state", "sent_at", "last_error", "next_attempt_at"])
    return True


@shared_task(name="notifications.outbox_dispatch")
def outbox_dispatch(limit: int = BATCH) -> int:
    """Send up to `limit` due messages; beat runs it every minute and EOD after each run."""
    sent = 0
    while sent < limit and outbox_send_one():
        sent += 1
    if sent == limit:
        outbox_dispatch.delay(limit)
    return sent
