"""GET /api/v1/bank/profile/: a partner bank sees its own profile and nobody else's."""

import pytest

from apps.partners.models import ApiClientKind
from tests.api.conftest import logged_in_api, registered_client
from tests.partners.factories import PartnerBankFactory

BANK_SCOPES = ["bank:read", "colending:write", "loans:read", "repayments:write"]


@pytest.fixture
def harbour(lender, admin):
    bank = PartnerBankFactory(lender=lender, code="harbour", name="Harbour Commercial Bank", max_share="0.6500",
                              exposure_limit="5000000.00", webhook_url="https://hooks.harbour.test/orderfin")
    return registered_client(lender=lender, actor=admin, kind=ApiClientKind.PARTNER_BANK, client_id="harbour",
                             partner_bank=bank)


@pytest.fixture
def river(lender, admin):
    bank = PartnerBankFactory(lender=lender, code="river", name="River Rural Bank", max_share="0.3000")
    return registered_client(lender=lender, actor=admin, kind=ApiClientKind.PARTNER_BANK, client_id="river",
                             partner_bank=bank)


def test_a_bank_reads_its_own_profile(harbour, lender):
    response = logged_in_api(*harbour).get("/api/v1/bank/profile/")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {
        "code": "harbour", "name": "Harbour Commercial Bank", "lender": lender.name, "max_share": "0.6500",
        "exposure_limit": "5000000.00", "webhook_url": "https://hooks.harbour.test/orderfin", "is_active": True,
        "scopes": BANK_SCOPES, "token_scopes": BANK_SCOPES,
    }


def test_two_banks_each_see_only_their_own_profile(harbour, river):
    harbour_api, river_api = logged_in_api(*harbour), logged_in_api(*river)
    assert harbour_api.get("/api/v1/bank/profile/").json()["code"] == "harbour"
    river_profile = river_api.get("/api/v1/bank/profile/").json()
    assert (river_profile["code"], river_profile["name"], river_profile["max_share"]) == (
        "river", "River Rural Bank", "0.3000")
    assert harbour_api.get("/api/v1/bank/profile/").json()["code"] == "harbour"


def test_the_same_bank_code_at_another_lender_is_a_different_profile(harbour, lender, other_lender):
    bank = PartnerBankFactory(lender=other_lender, code="harbour", name="Harbour (other lender)")
    client, secret = registered_client(lender=other_lender, actor=None, kind=ApiClientKind.PARTNER_BANK,
                                       client_id="harbour-2", partner_bank=bank)
    profile = logged_in_api(client, secret).get("/api/v1/bank/profile/").json()
    assert (profile["name"], profile["lender"]) == ("Harbour (other lender)", other_lender.name)
    assert logged_in_api(*harbour).get("/api/v1/bank/profile/").json()["lender"] == lender.name


def test_scopes_shown_are_the_ones_the_bank_may_be_granted(harbour):
    client, secret = harbour
    profile = logged_in_api(client, secret, scope="bank:read").get("/api/v1/bank/profile/").json()
    assert profile["scopes"] == BANK_SCOPES
