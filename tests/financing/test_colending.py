import datetime
from decimal import Decimal

import pytest

from apps.core.errors import Conflict
from apps.financing.colending import funding_split
from apps.financing.models import PartnerShareOffer, ShareOfferState
from apps.partners.models import CoLendingAgreement
from tests.conftest import TODAY
from tests.partners.factories import PartnerBankFactory

D = Decimal


@pytest.fixture
def agreement(lender, bank_client):
    return CoLendingAgreement.objects.create(
        lender=lender, partner_bank=bank_client.partner_bank, share=D("0.6000"), annual_rate=D("0.0600"),
        exposure_limit=D("5000.00"), effective_from=TODAY - datetime.timedelta(days=1),
    )


def test_the_bank_is_offered_its_share_and_the_lender_keeps_the_rest(agreement, accepted):
    application = accepted("1000.00")
    share = PartnerShareOffer.objects.get(application=application)
    assert (share.amount, share.state) == (D("600.00"), ShareOfferState.OFFERED)
    with pytest.raises(Conflict, match="has not answered"):
        funding_split(application=application)


def test_an_auto_accepting_agreement_funds_at_once(agreement, accepted):
    CoLendingAgreement.objects.filter(pk=agreement.pk).update(auto_accept=True)
    application = accepted("1000.00")
    assert funding_split(application=application)[:2] == (D("400.00"), D("600.00"))


def test_no_share_is_offered_beyond_the_agreements_limit(agreement, accepted):
    CoLendingAgreement.objects.filter(pk=agreement.pk).update(exposure_limit=D("2000.00"))
    accepted("1800.00", slice(0, 2))  # 1,080 of the bank's 2,000 committed
    second = accepted("1800.00", slice(2, 4))  # another 1,080 would pass the limit
    assert PartnerShareOffer.objects.count() == 1
    assert funding_split(application=second) == (D("1800.00"), D("0.00"), None)


def test_grades_outside_the_agreement_are_not_offered(agreement, accepted):
    CoLendingAgreement.objects.filter(pk=agreement.pk).update(eligible_grades="B")
    application = accepted("1000.00")
    assert not PartnerShareOffer.objects.exists()
    assert funding_split(application=application) == (D("1000.00"), D("0.00"), None)


def test_bank_sees_and_answers_only_its_own_offers(agreement, accepted, bank_api, lender):
    application = accepted("1000.00")
    share = PartnerShareOffer.objects.get(application=application)
    listed = bank_api.get("/api/v1/colending/offers/?state=offered").json()
    assert [o["id"] for o in listed["results"]] == [share.pk] and listed["results"][0]["amount"] == "600.00"
    response = bank_api.post(f"/api/v1/colending/offers/{share.pk}/accept/")
    assert response.status_code == 200 and response.json()["state"] == "accepted"
    again = bank_api.post(f"/api/v1/colending/offers/{share.pk}/decline/")
    assert again.status_code == 409 and again.json()["code"] == "SHARE_ALREADY_ANSWERED"
    assert funding_split(application=application)[:2] == (D("400.00"), D("600.00"))


def test_another_bank_cannot_touch_the_offer(agreement, accepted, lender, staff):
    from rest_framework.test import APIClient

    from apps.accounts.models import Role
    from apps.partners.models import ApiClientKind
    from apps.partners.services import api_client_create
    from tests.conftest import _token

    share = PartnerShareOffer.objects.get(application=accepted("1000.00"))
    other, _ = api_client_create(lender=lender, name="other", kind=ApiClientKind.PARTNER_BANK,
                                 actor=staff[Role.LENDER_ADMIN], partner_bank=PartnerBankFactory(lender=lender))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(other, other.allowed_scopes)}")
    assert api.get("/api/v1/colending/offers/").json()["count"] == 0
    response = api.post(f"/api/v1/colending/offers/{share.pk}/accept/")
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"
    assert PartnerShareOffer.objects.get(pk=share.pk).state == ShareOfferState.OFFERED


def test_a_declined_share_reverts_to_the_lender(agreement, accepted, bank_api):
    application = accepted("1000.00")
    share = PartnerShareOffer.objects.get(application=application)
    bank_api.post(f"/api/v1/colending/offers/{share.pk}/decline/")
    assert funding_split(application=application) == (D("1000.00"), D("0.00"), None)


def test_the_database_caps_a_banks_share_at_70_percent(lender, bank_client):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        CoLendingAgreement.objects.create(lender=lender, partner_bank=bank_client.partner_bank, share=D("0.7500"),
                                          annual_rate=D("0.05"), exposure_limit=D("1"), effective_from=TODAY)


def test_the_rule_sets_minimum_own_share_caps_the_banks_part(agreement, accepted, lender, staff):
    from apps.accounts.models import Role
    from apps.ledger.services import rule_set_version_create

    CoLendingAgreement.objects.filter(pk=agreement.pk).update(share=D("0.7000"))
    rule_set_version_create(lender=lender, actor=staff[Role.LENDER_ADMIN], effective_from=TODAY,
                            reason="Keep half of every loan", min_own_share_colending=D("0.5000"))
    share = PartnerShareOffer.objects.get(application=accepted("1000.00"))
    assert (share.amount, share.share) == (D("500.00"), D("0.5000"))
