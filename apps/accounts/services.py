import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.audit import audit_record

from .models import User


def user_lockout_remaining(*, user: User) -> datetime.timedelta | None:
    if user.locked_until and user.locked_until > timezone.now():
        return user.locked_until - timezone.now()
    return None


@transaction.atomic
def user_login_failure_record(*, user: User) -> User:
    """Count a failed sign-in; the Nth failure in a row locks the account for a while."""
    User.objects.filter(pk=user.pk).update(failed_login_count=F("failed_login_count") + 1)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.failed_login_count >= settings.LOGIN_LOCKOUT_THRESHOLD:
        user.locked_until = timezone.now() + datetime.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        user.failed_login_count = 0
        user.save(update_fields=["locked_until", "failed_login_count"])
        audit_record(
            actor=None, action="account_locked", subject=user,
            reason=f"{settings.LOGIN_LOCKOUT_THRESHOLD} failed sign-ins in a row",
        )
    return user


def user_login_success_record(*, user: User) -> None:
    if user.failed_login_count or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_login_count=0, locked_until=None)


@transaction.atomic
def user_unlock(*, user: User, actor: User) -> None:
    User.objects.filter(pk=user.pk).update(failed_login_count=0, locked_until=None)
    audit_record(actor=actor, action="account_unlocked", subject=user)
