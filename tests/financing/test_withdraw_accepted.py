"""An accepted offer that will not be disbursed is withdrawn by a credit officer: orders freed, the bank's share too."""

from decimal import Decimal

import pytest

from apps.accounts.models import Role
from apps.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from apps.financing.application_services import accepted_offer_withdraw
from apps.financing.colending import share_offer_answer
from apps.financing.disbursement import loan_disburse
from apps.financing.models import ApplicationState, FinancingApplication, PartnerShareOffer, Pledge, ShareOfferState
from apps.partners.models import CoLendingAgreement
from tests.financing.test_colending import agreement  # noqa: F401 - the bank's agreement, as there

D = Decimal


def test_withdrawing_frees_the_orders_and_the_banks_commitment(agreement, accepted, staff, bank_client):  # noqa: F811
    CoLendingAgreement.objects.filter(pk=agreement.pk).update(exposure_limit=D("1100.00"))
    application = accepted("1800.00", slice(0, 2))  # the bank is offered 1,080 of its 1,100
    accepted_offer_withdraw(application=application, actor=staff[Role.CREDIT_OFFICER], reason="Cash will not come")
    assert FinancingApplication.objects.get(pk=application.pk).state == ApplicationState.WITHDRAWN
    assert not Pledge.objects.filter(application=application, released_at__isnull=True).exists()
    share = PartnerShareOffer.objects.get(application=application)
    assert share.state == ShareOfferState.WITHDRAWN
    with pytest.raises(Conflict, match="withdrawn"):
        share_offer_answer(offer_id=share.pk, partner_bank=bank_client.partner_bank, accept=True, actor="bank")
    again = accepted("1800.00", slice(0, 2))  # the same orders, and the bank's room, are free for a new offer
    assert PartnerShareOffer.objects.get(application=again).amount == D("1080.00")


def test_only_a_credit_officer_withdraws_and_only_before_disbursement(accepted, staff):
    application = accepted("1000.00")
    with pytest.raises(Forbidden):
        accepted_offer_withdraw(application=application, actor=staff[Role.COLLECTOR], reason="no")
    with pytest.raises(ValidationFailed):
        accepted_offer_withdraw(application=application, actor=staff[Role.CREDIT_OFFICER], reason="  ")
    loan_disburse(application=application, actor="treasurer")
    with pytest.raises(InvalidTransition):
        accepted_offer_withdraw(application=application, actor=staff[Role.CREDIT_OFFICER], reason="too late")
    assert Pledge.objects.filter(application=application, released_at__isnull=True).exists()


def test_the_credit_officer_withdraws_from_the_application_page(client, staff, accepted):
    application = accepted("1000.00")
    client.force_login(staff[Role.TREASURER])
    page = client.get(f"/backoffice/applications/{application.pk}/").content.decode()
    assert "Withdraw accepted offer" not in page
    refused = client.post(f"/backoffice/applications/{application.pk}/",
                          {"decision": "withdraw_accepted", "note": "x"}, follow=True).content.decode()
    assert "Only a credit officer" in refused
    client.force_login(staff[Role.CREDIT_OFFICER])
    assert "Withdraw accepted offer" in client.get(f"/backoffice/applications/{application.pk}/").content.decode()
    done = client.post(f"/backoffice/applications/{application.pk}/",
                       {"decision": "withdraw_accepted", "note": "The APR is now above the ceiling"}, follow=True)
    assert "Offer withdrawn" in done.content.decode()
    assert FinancingApplication.objects.get(pk=application.pk).state == ApplicationState.WITHDRAWN
