"""OAuth2 client credentials at /o/token/ and what a token does (and does not) open."""

import datetime

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken
from rest_framework.test import APIClient

from apps.core.errors import ValidationFailed
from apps.merchants.models import DailySales
from apps.partners.models import ApiClientKind
from apps.partners.services import api_client_create
from tests.api.conftest import api_as, days_ago, logged_in_api, problem, registered_client, sales_row, token_request
from tests.partners.factories import PartnerBankFactory


@pytest.fixture
def bank(lender, admin):
    """(client, secret) of a partner bank with a known client id."""
    return registered_client(lender=lender, actor=admin, kind=ApiClientKind.PARTNER_BANK, client_id="bank-client",
                             partner_bank=PartnerBankFactory(lender=lender))


def test_client_credentials_grant_a_bearer_token_with_the_clients_allowed_scopes(marketplace, sales_url):
    client, secret = marketplace
    response = token_request(client.application.client_id, secret)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert set(body["scope"].split()) == client.scope_set() == {"sales:write", "orders:write"}
    assert "refresh_token" not in body  # client credentials: get a new token when it expires
    assert api_as(body["access_token"]).get(sales_url).status_code == 200


def test_a_partner_bank_is_granted_its_bank_scopes(bank):
    client, secret = bank
    body = token_request(client.application.client_id, secret).json()
    assert set(body["scope"].split()) == client.scope_set() == {
        "bank:read", "loans:read", "colending:write", "repayments:write"}


def test_a_wrong_secret_gets_no_token(marketplace):
    client, _ = marketplace
    response = token_request(client.application.client_id, "not-the-secret")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("scope", ["bank:read", "sales:write bank:read", "admin"])
def test_a_scope_the_client_is_not_allowed_is_refused(marketplace, scope):
    client, secret = marketplace
    response = token_request(client.application.client_id, secret, scope=scope)
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_a_narrower_scope_can_be_requested_and_is_all_the_token_carries(marketplace, sales_url):
    client, secret = marketplace
    response = token_request(client.application.client_id, secret, scope="orders:write")
    assert response.json()["scope"] == "orders:write"
    refused = api_as(response.json()["access_token"]).post(sales_url, {"rows": [sales_row(days_ago(1))]}, format="json")
    assert refused.status_code == 403
    assert problem(refused)["code"] == "FORBIDDEN"
    assert "sales:write" in refused.json()["detail"]
    assert not DailySales.objects.exists()


def test_no_token_is_a_401_problem(marketplace, sales_url):
    api_client = APIClient()
    for response in (api_client.get(sales_url), api_client.get("/api/v1/bank/profile/"),
                     api_client.post(sales_url, {"rows": [sales_row(days_ago(1))]}, format="json")):
        assert response.status_code == 401
        body = problem(response)
        assert body["code"] == "UNAUTHENTICATED" and body["status"] == 401 and "not provided" in body["detail"]
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert not DailySales.objects.exists()


def test_an_unknown_token_is_401_and_said_to_be_invalid_not_missing(sales_url):
    response = api_as("made-up-token").get(sales_url)
    assert response.status_code == 401 and problem(response)["code"] == "UNAUTHENTICATED"
    assert "invalid or has expired" in response.json()["detail"]


def test_a_marketplace_token_cannot_read_the_bank_profile(marketplace):
    response = logged_in_api(*marketplace).get("/api/v1/bank/profile/")
    assert response.status_code == 403
    assert problem(response)["code"] == "FORBIDDEN" and "bank:read" in response.json()["detail"]


def test_a_bank_token_cannot_post_sales(bank, sales_url):
    response = logged_in_api(*bank).post(sales_url, {"rows": [sales_row(days_ago(1))]}, format="json")
    assert response.status_code == 403
    assert problem(response)["code"] == "FORBIDDEN" and "sales:write" in response.json()["detail"]
    assert not DailySales.objects.exists()


def test_an_expired_token_is_401(marketplace, sales_url):
    api = logged_in_api(*marketplace)
    assert api.get(sales_url).status_code == 200
    AccessToken.objects.update(expires=timezone.now() - datetime.timedelta(seconds=1))
    response = api.get(sales_url)
    assert response.status_code == 401 and problem(response)["code"] == "UNAUTHENTICATED"


def test_a_token_stops_working_when_its_client_is_deleted(marketplace, sales_url):
    client, secret = marketplace
    api = logged_in_api(client, secret)
    client.application.delete()
    assert api.get(sales_url).status_code == 401
    assert token_request(client.application.client_id, secret).status_code == 401


@pytest.mark.parametrize("path", ["/o/applications/", "/o/applications/register/", "/o/register/", "/o/authorize/"])
def test_a_signed_in_user_reaches_no_oauth_management_page(client, merchant_user, path):
    client.force_login(merchant_user)  # only the token endpoints are mounted
    assert client.get(path).status_code == 404


def test_an_api_client_cannot_act_for_another_lenders_bank(lender, other_lender, staff):
    bank = PartnerBankFactory(lender=other_lender)
    with pytest.raises(ValidationFailed, match="another lender"):
        api_client_create(lender=lender, name="x", kind="partner_bank", actor="admin", partner_bank=bank)
