"""Helpers for the partner API tests: real OAuth2 clients, tokens from /o/token/, sales rows."""

import base64
import datetime
from urllib.parse import urlencode

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.core.calendar import business_date_today
from apps.partners.models import ApiClientKind
from apps.partners.services import api_client_create


def basic_auth(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def token_request(client_id: str, secret: str, scope: str | None = None):
    """POST /o/token/ as a bank's integration would: client credentials, HTTP basic auth."""
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return Client().post("/o/token/", urlencode(form), content_type="application/x-www-form-urlencoded",
                         HTTP_AUTHORIZATION=basic_auth(client_id, secret))


def api_as(access_token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return api


def registered_client(*, lender, actor, kind, client_id, name=None, partner_bank=None):
    """An API client with a known id and secret; returns (client, plain secret)."""
    return api_client_create(lender=lender, name=name or client_id, kind=kind, actor=actor,
                             partner_bank=partner_bank, client_id=client_id, client_secret=f"{client_id}-secret")


def logged_in_api(client, secret: str, scope: str | None = None) -> APIClient:
    response = token_request(client.application.client_id, secret, scope)
    assert response.status_code == 200, response.content
    return api_as(response.json()["access_token"])


def days_ago(n: int) -> datetime.date:
    return business_date_today() - datetime.timedelta(days=n)


def sales_row(day: datetime.date, gross="1000.00", orders=10, refunds="0.00", chargebacks="0.00") -> dict:
    return {"date": day.isoformat(), "gross_sales": gross, "order_count": orders, "refunds": refunds,
            "chargebacks": chargebacks}


def problem(response) -> dict:
    assert response["Content-Type"] == "application/problem+json", response["Content-Type"]
    return response.json()


@pytest.fixture
def admin(staff):
    return staff[Role.LENDER_ADMIN]


@pytest.fixture
def sales_url(merchant):
    return f"/api/v1/merchants/{merchant.pk}/sales/"


@pytest.fixture
def marketplace(lender, admin):
    """(client, secret) of a marketplace integration with a known client id."""
    return registered_client(lender=lender, actor=admin, kind=ApiClientKind.MARKETPLACE, client_id="mkt-client")
