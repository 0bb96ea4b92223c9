from apps.merchants.models import DailySales, KycState, Merchant
from apps.merchants.services import kyc_document_upload
from tests.helpers import PDF_BYTES, sales_csv, upload

SIGNUP = {
    "company_name": "Bamboo Crafts", "store_handle": "bamboo-crafts", "contact_name": "Wang Fang",
    "contact_email": "fang@bamboo.test", "contact_phone": "+86 571 5555 0101", "bank_name": "Harbour Bank",
    "bank_account_name": "Bamboo Crafts", "bank_account_number": "6222 0000 1111", "username": "fang",
    "password": "bamboo-is-strong-42", "password_again": "bamboo-is-strong-42",
}


def test_sign_up_creates_the_merchant_and_signs_in(client, lender):
    response = client.post("/portal/signup/", SIGNUP)
    assert response.status_code == 302 and response.url == "/portal/kyc/"
    merchant = Merchant.objects.get(store_handle="bamboo-crafts")
    assert merchant.lender == lender and merchant.kyc_state == KycState.DRAFT
    assert "Bamboo Crafts" in client.get("/portal/").content.decode()


def test_sign_up_with_missing_fields_and_weak_password_explains_each(client, lender):
    response = client.post("/portal/signup/", {**SIGNUP, "company_name": "", "password": "123", "password_again": "123"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required" in body and "too short" in body
    assert not Merchant.objects.exists()


def test_uploading_a_spoofed_document_shows_why(client, merchant_user):
    client.force_login(merchant_user)
    response = client.post("/portal/kyc/", {"kind": "business_licence", "file": upload("scan.pdf", b"GIF89a....")})
    assert response.status_code == 400
    assert "does not look like a real PDF" in response.content.decode()


def test_merchant_uploads_and_submits_kyc(client, merchant_user):
    client.force_login(merchant_user)
    response = client.post("/portal/kyc/", {"kind": "business_licence", "file": upload("licence.pdf", PDF_BYTES)})
    assert response.status_code == 302
    client.post("/portal/kyc/submit/")
    assert Merchant.objects.get(pk=merchant_user.merchant_id).kyc_state == KycState.SUBMITTED
    assert "Submitted" in client.get("/portal/kyc/").content.decode()


def test_another_merchants_document_is_not_found(client, merchant_user, other_merchant_user):
    document = kyc_document_upload(merchant=other_merchant_user.merchant, kind="other",
                                   upload=upload("theirs.pdf", PDF_BYTES), actor=other_merchant_user)
    client.force_login(merchant_user)
    assert client.get(f"/portal/kyc/documents/{document.pk}/").status_code == 404
    client.force_login(other_merchant_user)
    response = client.get(f"/portal/kyc/documents/{document.pk}/")
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF_BYTES


def test_portal_pages_only_show_the_callers_merchant(client, merchant_user, other_merchant_user):
    client.force_login(merchant_user)
    body = client.get("/portal/").content.decode()
    assert merchant_user.merchant.company_name in body
    assert other_merchant_user.merchant.company_name not in body


def test_sales_csv_with_a_bad_row_imports_nothing_and_lists_the_row(client, merchant_user):
    client.force_login(merchant_user)
    response = client.post("/portal/sales/", {"file": sales_csv(["2026-11-01,100.00,2,0,0", "2026-11-02,oops,2,0,0"])})
    assert response.status_code == 400
    body = response.content.decode()
    assert "nothing was imported" in body and "&#x27;oops&#x27; is not an amount" in body
    assert not DailySales.objects.exists()


def test_sales_csv_import_regrades_the_merchant(client, merchant_user):
    client.force_login(merchant_user)
    response = client.post("/portal/sales/", {"file": sales_csv(["2026-11-01,100.00,2,0,0"])})
    assert response.status_code == 302
    merchant = Merchant.objects.get(pk=merchant_user.merchant_id)
    assert merchant.risk_grade and DailySales.objects.filter(merchant=merchant).count() == 1


def test_forms_need_the_csrf_token(merchant_user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(merchant_user)
    assert strict.post("/portal/kyc/submit/").status_code == 403
