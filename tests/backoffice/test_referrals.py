from apps.accounts.models import Role
from apps.financing.application_services import application_submit
from apps.financing.models import ApplicationState, FinancingApplication


def _referred(merchant, orders):
    return application_submit(merchant=merchant, order_ids=[o.pk for o in orders], amount="1000.00", actor="x")


def test_officer_reviews_a_referral_with_the_reasons_in_view(client, staff, verified, graded, open_orders):
    merchant = graded(verified, "D")
    application = _referred(merchant, open_orders(merchant, 4)[:2])
    client.force_login(staff[Role.CREDIT_OFFICER])
    queue = client.get("/backoffice/applications/?state=referred").content.decode()
    assert f"#{application.pk}" in queue
    page = client.get(f"/backoffice/applications/{application.pk}/").content.decode()
    assert "Risk grade D needs a credit officer&#x27;s review." in page and "Already owed" in page
    client.post(f"/backoffice/applications/{application.pk}/", {"decision": "approve", "note": "Known seller"})
    application = FinancingApplication.objects.get(pk=application.pk)
    assert application.state == ApplicationState.APPROVED and application.decision_note == "Known seller"


def test_a_collector_cannot_decide_and_nothing_changes(client, staff, verified, graded, open_orders):
    merchant = graded(verified, "D")
    application = _referred(merchant, open_orders(merchant, 4)[:2])
    client.force_login(staff[Role.COLLECTOR])
    response = client.post(f"/backoffice/applications/{application.pk}/", {"decision": "approve", "note": "x"}, follow=True)
    assert "Only a credit officer may decide" in response.content.decode()
    assert FinancingApplication.objects.get(pk=application.pk).state == ApplicationState.REFERRED


def test_another_lenders_application_is_not_found(client, staff, other_lender):
    from apps.financing.products import presale_product_get
    from tests.accounts.factories import MerchantUserFactory
    from tests.conftest import TODAY

    foreign = MerchantUserFactory(lender=other_lender).merchant
    application = FinancingApplication.objects.create(merchant=foreign, amount="10.00", currency="CNY",
                                                      product=presale_product_get(lender=other_lender, as_of=TODAY))
    client.force_login(staff[Role.CREDIT_OFFICER])
    assert client.get(f"/backoffice/applications/{application.pk}/").status_code == 404
