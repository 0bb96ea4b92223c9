"""A graded merchant takes a term loan, then pays ahead and chooses fewer months."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.term_loans import six_percent, term_merchant  # noqa: F401 - shared fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.mark.usefixtures("term_merchant")  # verified, grade A, priced at 6%
def test_merchant_takes_a_term_loan_and_pays_ahead(new_page, merchant_user):
    page = new_page()
    page.goto("/portal/login/")
    page.fill("[name=username]", merchant_user.username)
    page.fill("[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.click("text=Applications")
    page.click("text=Apply for a term loan")
    page.select_option("[name=product]", label="Term loan, equal installments (等额本息): 3–36 months, 1,000.00–2,000,000.00")
    page.fill("[name=amount]", "12000.00")
    page.fill("[name=term_months]", "12")
    page.click("button:has-text('Apply for a term loan')")
    expect(page.locator("h1")).to_contain_text("Approved")
    expect(page.locator(".terms")).to_contain_text("12,000.00")

    page.click("button:has-text('Accept offer')")
    expect(page.locator(".msg.success")).to_contain_text("12,000.00 disbursed in full")
    page.click("text=Loan #")
    expect(page.locator("table.compact").first.locator("tbody tr")).to_have_count(12)
    page.fill("[name=amount]", "5000.00")
    page.check("[name=prepayment][value=reduce_term]")
    page.click("button:has-text('Pay')")
    expect(page.locator(".msg.success")).to_contain_text("Payment of 5,000.00 received.")
    expect(page.locator("table.compact").first.locator("tbody tr")).to_have_count(8)
    expect(page.locator("#principal-outstanding")).to_have_text("7,000.00")
