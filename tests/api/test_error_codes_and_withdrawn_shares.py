"""A withdrawn share told apart from an answered one; every error in errors[] with its code; the merchant told why."""

from decimal import Decimal

from apps.accounts.models import Role, User
from apps.financing.application_services import accepted_offer_withdraw
from apps.financing.models import PartnerShareOffer
from tests.financing.factories import PresaleOrderFactory
from tests.financing.test_colending import agreement  # noqa: F401 - the bank's agreement, as there

D = Decimal


def test_a_withdrawn_share_is_not_reported_to_the_bank_as_already_answered(agreement, accepted, staff,  # noqa: F811
                                                                         bank_api):
    application = accepted("1000.00")
    share = PartnerShareOffer.objects.get(application=application)  # offered, never answered by the bank
    accepted_offer_withdraw(application=application, actor=staff[Role.CREDIT_OFFICER], reason="Cash will not come")
    response = bank_api.post(f"/api/v1/colending/offers/{share.pk}/accept/")
    assert response.status_code == 409
    # The bank never answered: its integration must not be told it did (it would look for an answer it never sent).
    assert response.json()["code"] == "SHARE_WITHDRAWN"


def test_every_field_error_carries_a_code_domain_field_errors_too(marketplace_api, merchant):
    order = PresaleOrderFactory(merchant=merchant, paid_amount=D("1000.00"))
    url = f"/api/v1/merchants/{merchant.pk}/orders/{order.external_id}/events/"
    for event in ("shipped", "delivered"):
        assert marketplace_api.post(url, {"event": event}, format="json").status_code == 200
    response = marketplace_api.post(url, {"event": "settled"}, format="json")  # settled_amount missing: a domain rule
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["settled_amount"]
    assert [e["code"] for e in errors] == ["SETTLED_AMOUNT_REQUIRED"]


def test_the_merchant_is_told_why_their_accepted_offer_was_withdrawn(accepted, staff, client):
    application = accepted("1000.00")
    accepted_offer_withdraw(application=application, actor=staff[Role.CREDIT_OFFICER],
                            reason="The APR is now above the ceiling")
    client.force_login(User.objects.filter(merchant=application.merchant).first())
    page = client.get(f"/portal/applications/{application.pk}/").content.decode()
    assert "Withdrawn" in page
    assert "Withdrawn by the lender: The APR is now above the ceiling" in page
