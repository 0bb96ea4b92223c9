"""Sign-up → KYC submit → credit officer verifies → the merchant sees "Verified"."""

import pytest
from playwright.sync_api import expect

from apps.accounts.models import Role
from tests.conftest import PASSWORD
from tests.helpers import PDF_BYTES

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_merchant_is_onboarded_and_verified(new_page, lender, staff, tmp_path):
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(PDF_BYTES)

    merchant = new_page()
    merchant.goto("/portal/signup/")
    for field, value in {
        "company_name": "Lantern Lights Ltd", "store_handle": "lantern-lights", "contact_name": "Chen Jie",
        "contact_email": "jie@lantern.test", "contact_phone": "+86 20 5555 0199", "bank_name": "Harbour Bank",
        "bank_account_name": "Lantern Lights Ltd", "bank_account_number": "6222 1234 5678",
        "username": "jie", "password": "lanterns-glow-2026", "password_again": "lanterns-glow-2026",
    }.items():
        merchant.fill(f"[name={field}]", value)
    merchant.click("button:has-text('Create account')")
    expect(merchant.locator("h1")).to_contain_text("Draft")

    merchant.select_option("[name=kind]", "business_licence")
    merchant.set_input_files("[name=file]", str(licence))
    merchant.click("button:text-is('Upload')")
    expect(merchant.locator("table")).to_contain_text("licence.pdf")
    merchant.click("button:has-text('Submit for verification')")
    expect(merchant.locator("h1")).to_contain_text("Submitted")

    officer = new_page()
    officer.goto("/backoffice/login/")
    officer.fill("[name=username]", staff[Role.CREDIT_OFFICER].username)
    officer.fill("[name=password]", PASSWORD)
    officer.click("button:has-text('Sign in')")
    officer.click("text=KYC queue")
    officer.click("text=Lantern Lights Ltd")
    officer.click("button:has-text('Verify')")
    expect(officer.locator(".msg.success")).to_have_text("KYC verified.")

    merchant.goto("/portal/kyc/")
    expect(merchant.locator("h1")).to_contain_text("Verified")
    expect(merchant.locator(".timeline")).to_contain_text(staff[Role.CREDIT_OFFICER].username)
