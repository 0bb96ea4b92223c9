"""Pluggable SMS backends, chosen by settings.SMS_BACKEND (a dotted path to a class with send(to, body))."""

import logging

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("orderfin.sms")


class ConsoleSmsBackend:
    """Development: the message goes to the log, nowhere else."""

    def send(self, to: str, body: str) -> None:
        log.info("SMS to %s: %s", to, body)


class LocmemSmsBackend:
    """Tests: messages are kept in `LocmemSmsBackend.outbox`, like Django's locmem e-mail backend."""

    outbox: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> None:
        type(self).outbox.append((to, body))


def sms_backend():
    return import_string(settings.SMS_BACKEND)()
