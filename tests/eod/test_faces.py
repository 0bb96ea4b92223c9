"""The back-office end-of-day screen, the portal notices and the outbox's retries."""

import datetime
from unittest import mock

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.eod.models import EodRun
from apps.eod.pipeline import catch_up_inline
from apps.notifications.models import Notice, OutboxMessage, OutboxState
from apps.notifications.services import notice_send
from apps.notifications.sms import LocmemSmsBackend
from apps.notifications.tasks import MAX_ATTEMPTS, outbox_dispatch

TODAY = business_date_today()


def test_the_eod_screen_shows_runs_and_only_admins_start_one(client, staff, merchant_user, lender):
    catch_up_inline(through=TODAY - datetime.timedelta(days=1))
    client.force_login(staff[Role.COLLECTOR])
    page = client.get(reverse("eod:runs"))
    assert page.status_code == 200 and str(TODAY - datetime.timedelta(days=1)) in page.content.decode()
    assert "Run end of day" not in page.content.decode()
    assert client.post(reverse("eod:run"), {"business_date": TODAY.isoformat()}).status_code == 403
    run = EodRun.objects.get()
    detail = client.get(reverse("eod:run-detail", args=[run.pk]))
    assert "accrue_interest" in detail.content.decode() or "accrueinterest" in detail.content.decode()

    client.force_login(staff[Role.LENDER_ADMIN])
    with mock.patch("apps.eod.views.eod_catch_up.delay") as started:
        response = client.post(reverse("eod:run"), {"business_date": TODAY.isoformat()}, follow=True)
    started.assert_called_once_with(TODAY.isoformat())
    assert f"End of day started for {TODAY.isoformat()}" in response.content.decode()
    future = client.post(reverse("eod:run"), {"business_date": (TODAY + datetime.timedelta(days=1)).isoformat()},
                         follow=True)
    assert "has not happened yet" in future.content.decode()

    client.force_login(merchant_user)
    assert client.get(reverse("eod:runs")).status_code == 403


def test_merchants_see_their_own_notices_once_as_new(client, merchant, merchant_user, other_merchant_user):
    notice_send(merchant=merchant, kind="test", title="Payment due soon", body="Loan #1: 100.00", business_date=TODAY)
    assert notice_send(merchant=merchant, kind="test", title="again", body="again", business_date=TODAY) == 0  # once
    client.force_login(other_merchant_user)
    assert "Payment due soon" not in client.get(reverse("notifications:notices")).content.decode()
    client.force_login(merchant_user)
    first = client.get(reverse("notifications:notices")).content.decode()
    assert "Payment due soon" in first and "New:" in first
    assert "New:" not in client.get(reverse("notifications:notices")).content.decode()


def test_the_outbox_retries_with_backoff_then_gives_up(merchant):
    notice_send(merchant=merchant, kind="test", title="Hello", body="World", business_date=TODAY, channels="email,sms")
    LocmemSmsBackend.outbox.clear()
    with mock.patch("apps.notifications.tasks.send_mail", side_effect=ConnectionError("SMTP down")):
        assert outbox_dispatch() == 2  # the SMS goes, the e-mail fails and waits
    email = OutboxMessage.objects.get(channel="email")
    assert email.state == OutboxState.PENDING and email.attempts == 1 and "SMTP down" in email.last_error
    assert email.next_attempt_at > timezone.now() + datetime.timedelta(seconds=50)
    assert LocmemSmsBackend.outbox == [(merchant.contact_phone, "Hello: World")]
    assert outbox_dispatch() == 0  # not due yet
    OutboxMessage.objects.filter(pk=email.pk).update(next_attempt_at=timezone.now())
    assert outbox_dispatch() == 1
    assert OutboxMessage.objects.get(pk=email.pk).state == OutboxState.SENT and len(mail.outbox) == 1

    notice_send(merchant=merchant, kind="test-2", title="Again", body="x", business_date=TODAY)
    doomed = OutboxMessage.objects.get(notice__kind="test-2")
    with mock.patch("apps.notifications.tasks.send_mail", side_effect=ConnectionError("still down")):
        for _ in range(MAX_ATTEMPTS):
            OutboxMessage.objects.filter(pk=doomed.pk).update(next_attempt_at=timezone.now())
            outbox_dispatch()
    doomed.refresh_from_db()
    assert doomed.state == OutboxState.FAILED and doomed.attempts == MAX_ATTEMPTS
    assert Notice.objects.filter(kind="test-2").count() == 1


def test_the_command_refuses_a_date_that_has_not_happened_and_runs_nothing(db):
    tomorrow = business_date_today() + datetime.timedelta(days=1)
    with pytest.raises(CommandError, match="has not happened yet"):
        call_command("run_eod", "--date", tomorrow.isoformat(), "--inline")
    assert not EodRun.objects.exists()
