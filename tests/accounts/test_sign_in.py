import datetime

import pytest
from django.utils import timezone

from apps.accounts.models import Role, User
from apps.core.models import AuditEvent
from tests.conftest import PASSWORD


def _login(client, face, username, password):
    return client.post(f"/{face}/login/", {"username": username, "password": password})


def test_merchant_signs_in_to_the_portal(client, merchant_user):
    response = _login(client, "portal", merchant_user.username, PASSWORD)
    assert response.status_code == 302 and response.url == "/portal/"
    assert client.get("/portal/").status_code == 200


def test_merchant_cannot_sign_in_to_the_back_office(client, merchant_user):
    response = _login(client, "backoffice", merchant_user.username, PASSWORD)
    assert response.status_code == 400
    assert "cannot sign in to the back-office" in response.content.decode()


def test_staff_cannot_sign_in_to_the_portal(client, staff):
    response = _login(client, "portal", staff[Role.CREDIT_OFFICER].username, PASSWORD)
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/backoffice/", "/backoffice/kyc/", "/backoffice/merchants/"])
def test_signed_in_merchant_is_refused_every_back_office_page(client, merchant_user, path):
    client.force_login(merchant_user)
    assert client.get(path).status_code == 403


def test_anonymous_visitor_is_sent_to_the_right_sign_in_page(client, db):
    assert client.get("/backoffice/merchants/").url.startswith("/backoffice/login/?next=")
    assert client.get("/portal/").url.startswith("/portal/login/?next=")


def test_open_redirect_after_sign_in_is_refused(client, merchant_user):
    credentials = {"username": merchant_user.username, "password": PASSWORD}
    response = client.post("/portal/login/?next=https://evil.example/", credentials)
    assert response.url == "/portal/"


def test_five_failures_lock_the_account_even_for_the_right_password(client, merchant_user, settings):
    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD):
        assert _login(client, "portal", merchant_user.username, "wrong").status_code == 400
    response = _login(client, "portal", merchant_user.username, PASSWORD)
    assert response.status_code == 400
    assert "locked" in response.content.decode()
    assert AuditEvent.objects.filter(action="account_locked", subject_id=str(merchant_user.pk)).count() == 1


def test_lock_expires_and_a_success_resets_the_count(client, merchant_user, settings):
    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD):
        _login(client, "portal", merchant_user.username, "wrong")
    User.objects.filter(pk=merchant_user.pk).update(locked_until=timezone.now() - datetime.timedelta(seconds=1))
    assert _login(client, "portal", merchant_user.username, PASSWORD).status_code == 302
    merchant_user.refresh_from_db()
    assert merchant_user.failed_login_count == 0 and merchant_user.locked_until is None


def test_failures_below_the_threshold_do_not_lock(client, merchant_user, settings):
    for _ in range(settings.LOGIN_LOCKOUT_THRESHOLD - 1):
        _login(client, "portal", merchant_user.username, "wrong")
    assert _login(client, "portal", merchant_user.username, PASSWORD).status_code == 302


def test_sign_out_needs_post_and_ends_the_session(client, merchant_user):
    client.force_login(merchant_user)
    assert client.get("/portal/logout/").status_code == 405
    assert client.post("/portal/logout/").status_code == 302
    assert client.get("/portal/").status_code == 302


def test_database_refuses_a_merchant_user_without_a_merchant(lender):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        User.objects.create(username="orphan", role=Role.MERCHANT, lender=lender)
