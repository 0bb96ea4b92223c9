from apps.accounts.models import Role
from apps.merchants.models import KycState, Merchant
from apps.merchants.services import kyc_document_upload, kyc_submit
from tests.helpers import PDF_BYTES, upload
from tests.merchants.factories import MerchantFactory


def _submit(merchant, user):
    kyc_document_upload(merchant=merchant, kind="business_licence", upload=upload("l.pdf", PDF_BYTES), actor=user)
    kyc_submit(merchant=merchant, actor=user)


def test_kyc_queue_lists_only_submitted_merchants_of_the_officers_lender(client, staff, merchant, merchant_user,
                                                                         other_lender):
    foreign = MerchantFactory(lender=other_lender, company_name="Foreign Shop")
    _submit(merchant, merchant_user)
    client.force_login(staff[Role.CREDIT_OFFICER])
    body = client.get("/backoffice/kyc/").content.decode()
    assert merchant.company_name in body and foreign.company_name not in body


def test_another_lenders_merchant_is_not_found(client, staff, other_lender):
    foreign = MerchantFactory(lender=other_lender)
    client.force_login(staff[Role.LENDER_ADMIN])
    assert client.get(f"/backoffice/merchants/{foreign.pk}/").status_code == 404
    assert client.post(f"/backoffice/merchants/{foreign.pk}/verify/").status_code == 404


def test_officer_verifies_from_the_merchant_page(client, staff, merchant, merchant_user):
    _submit(merchant, merchant_user)
    client.force_login(staff[Role.CREDIT_OFFICER])
    response = client.post(f"/backoffice/merchants/{merchant.pk}/verify/", follow=True)
    assert "KYC verified." in response.content.decode()
    assert Merchant.objects.get(pk=merchant.pk).kyc_state == KycState.VERIFIED
    assert "credit_officer-user" in response.content.decode()  # the timeline names who


def test_rejecting_without_a_reason_is_explained_and_changes_nothing(client, staff, merchant, merchant_user):
    _submit(merchant, merchant_user)
    client.force_login(staff[Role.CREDIT_OFFICER])
    response = client.post(f"/backoffice/merchants/{merchant.pk}/reject/", {"reason": ""}, follow=True)
    assert "A reason is required" in response.content.decode()
    assert Merchant.objects.get(pk=merchant.pk).kyc_state == KycState.SUBMITTED


def test_collector_cannot_open_the_kyc_queue_or_decide(client, staff, merchant, merchant_user):
    _submit(merchant, merchant_user)
    client.force_login(staff[Role.COLLECTOR])
    assert client.get("/backoffice/kyc/").status_code == 403
    response = client.post(f"/backoffice/merchants/{merchant.pk}/verify/", follow=True)
    assert "Only a credit officer may verify" in response.content.decode()
    assert Merchant.objects.get(pk=merchant.pk).kyc_state == KycState.SUBMITTED


def test_admin_suspends_with_a_reason(client, staff, merchant, merchant_user):
    _submit(merchant, merchant_user)
    client.force_login(staff[Role.LENDER_ADMIN])
    client.post(f"/backoffice/merchants/{merchant.pk}/verify/")
    client.post(f"/backoffice/merchants/{merchant.pk}/suspend/", {"reason": "Chargebacks spiked"})
    merchant = Merchant.objects.get(pk=merchant.pk)
    assert merchant.kyc_state == KycState.SUSPENDED and merchant.kyc_decision_reason == "Chargebacks spiked"


def test_merchant_list_is_paginated_and_free_of_n_plus_one(client, staff, lender, django_assert_max_num_queries):
    MerchantFactory.create_batch(30, lender=lender)
    client.force_login(staff[Role.CREDIT_OFFICER])
    with django_assert_max_num_queries(8):
        response = client.get("/backoffice/merchants/")
    assert response.status_code == 200 and "Page 1 of 2" in response.content.decode()
    assert client.get("/backoffice/merchants/?page=2&state=draft").status_code == 200


def test_merchant_page_shows_grade_reasons_to_the_officer(client, staff, merchant, merchant_user):
    from apps.merchants.services import credit_profile_recompute

    credit_profile_recompute(merchant=merchant, actor=merchant_user)
    client.force_login(staff[Role.CREDIT_OFFICER])
    body = client.get(f"/backoffice/merchants/{merchant.pk}/").content.decode()
    assert "No sales in the last 90 days." in body and "Score 6/100" in body


def test_officer_opens_a_merchants_kyc_document_but_not_another_lenders(client, staff, merchant, merchant_user,
                                                                         other_lender):
    document = kyc_document_upload(merchant=merchant, kind="other", upload=upload("a.pdf", PDF_BYTES), actor=merchant_user)
    foreign = MerchantFactory(lender=other_lender)
    from tests.accounts.factories import MerchantUserFactory

    foreign_user = MerchantUserFactory(lender=other_lender, merchant=foreign)
    foreign_doc = kyc_document_upload(merchant=foreign, kind="other", upload=upload("b.pdf", PDF_BYTES), actor=foreign_user)
    client.force_login(staff[Role.CREDIT_OFFICER])
    assert client.get(f"/backoffice/documents/{document.pk}/").status_code == 200
    assert client.get(f"/backoffice/documents/{foreign_doc.pk}/").status_code == 404


def test_each_role_is_offered_only_the_decisions_it_may_take(client, staff, merchant, merchant_user):
    _submit(merchant, merchant_user)
    client.force_login(staff[Role.COLLECTOR])
    assert "Verify" not in client.get(f"/backoffice/merchants/{merchant.pk}/").content.decode()
    client.force_login(staff[Role.CREDIT_OFFICER])
    client.post(f"/backoffice/merchants/{merchant.pk}/verify/")
    assert "Suspend" not in client.get(f"/backoffice/merchants/{merchant.pk}/").content.decode()
    client.force_login(staff[Role.LENDER_ADMIN])
    assert "Suspend" in client.get(f"/backoffice/merchants/{merchant.pk}/").content.decode()
